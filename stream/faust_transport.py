"""The Faust app and Kafka transport of the worker, with a shorter fetch wait than Faust's own.

Faust's aiokafka transport builds its consumer with ``fetch_max_wait_ms=1500``, fixed in its
code. A Kafka broker answers a fetch as soon as one byte is there, so the wait only matters
when topics are idle. The embedded Tansu broker holds every fetch for the whole wait, even
when messages arrived meanwhile, so each message reached the worker about 0.75 s late on
average, and each slate of the closed loop took as long. This transport keeps everything of
Faust's but that one number.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

logger = logging.getLogger(__name__)

#: How long a fetch may wait for new messages; short enough for interactive slates on Tansu,
#: long enough that an idle worker sends only a few dozen fetches a second.
FETCH_MAX_WAIT_MS = 20


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)

        # NOTE: aiokafka reads this attribute when the consumer starts, which is after this
        # point; it has no public setter. Should a later aiokafka rename it, the worker still
        # runs, with Faust's 1.5 s wait, and says so.
        if hasattr(consumer, "_fetch_max_wait_ms"):
            consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # noqa: SLF001
        else:
            logger.warning(
                "fetch_wait_unchanged reason=attribute_missing attribute=_fetch_max_wait_ms"
            )
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class WorkerApp(faust.App):
    """A Faust app whose consumer waits at most :data:`FETCH_MAX_WAIT_MS` per fetch."""

    def _new_transport(self) -> _Transport:
        return _Transport(self.conf.broker_consumer, self)
