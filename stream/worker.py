"""The stream worker: a Faust app that learns each arm's models from events and serves slates.

Three agents share one :class:`~stream.arms.ArmModels`:

* ``catalog`` applies catalog items (new items, stock and price changes);
* ``events`` teaches every interaction to the recommender of its user's arm;
* ``requests`` answers each rec-request with the arm's slate on the recommendations topic.

Every message is read through :func:`stream.validation.parse`; what fails goes to the
dead-letter topic with its reason, and the worker carries on.

Recovery. The catalog and events agents do not acknowledge messages to Faust, so Faust never
commits their offsets on its own. Instead the worker writes a snapshot of all arms with the
offsets it reflects (every ``snapshot_interval_s`` and at shutdown), and only then commits
those offsets. After a crash the worker restores the snapshot and Kafka redelivers from the
last commit, which is never past the snapshot; messages the snapshot already holds are skipped
by offset. The learned state is therefore exactly what it was, and no event is lost or learnt
twice. Slates are served from whatever has been learnt so far; requests are acknowledged as
usual, since answering one twice after a crash only repeats an exposure that the analysis
removes by request id.

TODO: the state is learnt per worker from the partitions it owns. With several workers, each
arm's item-side state (popularity, co-occurrence, item factors) sees only that worker's share
of the shoppers, and a partition that moves to another worker in a rebalance leaves its
users' learnt history behind in the old worker's snapshot. One worker per experiment is
exact; a group of workers needs item-side updates published to a compacted model-update topic
and read into a global table by every worker, and user state handed over with the partition
(see DESIGN, "Scaling past one machine"). Due before an experiment runs on more than one
worker.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
from faust.types import TP

from models.base import Recommender
from models.hybrid import Hybrid
from stream import snapshots
from stream.arms import ArmModels
from stream.assignment import Experiment
from stream.events import CatalogItem, Contract, DeadLetter
from stream.faust_transport import WorkerApp
from stream.topics import DEFAULT_PARTITIONS, TOPICS, Topics
from stream.validation import TOPIC_SCHEMAS, parse, unprocessable

logger = logging.getLogger(__name__)

#: Events the learning agents take from Faust at once, and how long they wait to fill a batch.
BATCH_SIZE = 1_000
BATCH_WAIT_S = 0.05


@dataclass
class WorkerSettings:
    """How a worker connects, which experiment it runs and where it keeps its state.

    Attributes
    ----------
    bootstrap
        Kafka bootstrap server, ``HOST:PORT``.
    state_dir
        Folder of the snapshot. Each worker of a group needs its own.
    snapshot_interval_s
        Seconds between snapshots while events flow.
    web_port
        Port of the worker's HTTP views (``/arms/``); None turns them off.
    session_timeout_s
        How long the group coordinator waits for a silent worker before it moves the worker's
        partitions elsewhere. Faust's default is 60 s; on the embedded Tansu broker a worker's
        first join takes half of it, so it is kept at 10 s (a join then takes about 5 s).
    """

    bootstrap: str
    state_dir: Path
    experiment: Experiment = field(default_factory=Experiment)
    topics: Topics = TOPICS
    app_id: str = "streamrec-worker"
    partitions: int = DEFAULT_PARTITIONS
    snapshot_interval_s: float = 10.0
    web_port: int | None = 6066
    seed: int = 0
    session_timeout_s: float = 10.0


class WorkerState:
    """The arms, the time of the last snapshot, and counters for the ``/arms/`` view."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        restored = snapshots.load(settings.state_dir, settings.experiment)
        self.arms = restored or ArmModels(settings.experiment, seed=settings.seed)
        self.last_snapshot_at = time.monotonic()
        self.dirty = False
        self.n_dead_letters = 0
        self.n_served = 0
        self.n_skipped = 0
        self.n_partitions_assigned = 0

    def due(self) -> bool:
        """Whether something new was learnt and the snapshot interval has passed."""
        elapsed = time.monotonic() - self.last_snapshot_at
        return self.dirty and elapsed >= self.settings.snapshot_interval_s

    def summary(self) -> dict[str, Any]:
        """What the ``/arms/`` view shows."""
        return {
            "arms": {arm: _describe(model) for arm, model in self.arms.recommenders.items()},
            "n_items": self.arms.catalog.n_items,
            "n_partitions_assigned": self.n_partitions_assigned,
            "n_served": self.n_served,
            "n_dead_letters": self.n_dead_letters,
            "n_replayed_skipped": self.n_skipped,
            "offsets": {
                f"{topic}:{partition}": offset
                for (topic, partition), offset in sorted(self.arms.offsets.items())
            },
        }


def _unacknowledged(stream: faust.StreamT) -> faust.StreamT:
    """The stream, with Faust's acknowledgements switched off for good.

    Taking events in batches costs Faust a third of what taking them one by one does (see
    ``bench/bench_worker.py``), but ``take_events`` acknowledges every event it hands out,
    even on a ``noack()`` stream, and acknowledged offsets are what Faust commits. A commit
    ahead of the last snapshot would lose the events in between after a crash, so this
    stream's ``ack`` does nothing and only :func:`create_app`'s snapshot commits offsets.
    """
    silent = stream.noack()

    async def ignore(event: faust.types.EventT) -> bool:
        return False

    silent.ack = ignore  # type: ignore[method-assign]
    return silent


def _describe(model: Recommender) -> dict[str, Any]:
    """One arm in the ``/arms/`` view; a bandit-weighted arm adds its source probabilities."""
    described: dict[str, Any] = {"recommender": model.name, "n_learnt": model.n_learnt}
    if isinstance(model, Hybrid):
        described["source_probabilities"] = model.source_probabilities()
    return described


def create_app(settings: WorkerSettings) -> tuple[faust.App, WorkerState]:
    """Build the Faust app and the state its agents share; :func:`run_worker` runs it."""
    state = WorkerState(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    app = WorkerApp(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        topic_partitions=settings.partitions,
        consumer_auto_offset_reset="earliest",
        web_enabled=settings.web_port is not None,
        web_port=settings.web_port or 6066,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        # Unacknowledged catalog and event messages are the design (see the module docstring):
        # waiting for them to be acknowledged at shutdown would wait forever.
        stream_wait_empty=False,
        producer_linger_ms=5,
        # Faust keeps table data in a folder of its own; by default it is "<app id>-data" in
        # whatever folder the worker was started from.
        datadir=str(settings.state_dir / "faust"),
        broker_session_timeout=settings.session_timeout_s,
    )
    topics = settings.topics
    raw = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    catalog_topic = app.topic(topics.catalog, **raw)
    events_topic = app.topic(topics.events, **raw)
    requests_topic = app.topic(topics.rec_requests, **raw)
    recommendations_topic = app.topic(topics.recommendations, **raw)
    dead_letter_topic = app.topic(topics.dead_letter, **raw)

    async def dead_letter(letter: DeadLetter, message: Any) -> None:
        """Publish a refused message's record; the worker carries on."""
        state.n_dead_letters += 1
        logger.warning(
            "message_dead_lettered reason=%s topic=%s partition=%d offset=%d",
            letter.reason,
            message.topic,
            message.partition,
            message.offset,
        )
        await dead_letter_topic.send(key=message.key, value=letter.to_bytes())

    async def read(event: faust.types.EventT, canonical: str) -> Contract | None:
        """Parse one message; publish a dead letter and return None when it is invalid."""
        message = event.message
        parsed = parse(
            event.value,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            schema=TOPIC_SCHEMAS[canonical],
        )
        if isinstance(parsed, DeadLetter):
            await dead_letter(parsed, message)
            return None
        return parsed

    async def failed(event: faust.types.EventT, error: Exception) -> None:
        """A valid message that made our own code fail: keep it, say so, carry on."""
        message = event.message
        logger.exception(
            "message_unprocessable topic=%s partition=%d offset=%d",
            message.topic,
            message.partition,
            message.offset,
        )
        letter = unprocessable(
            event.value,
            error,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
        )
        await dead_letter(letter, message)

    async def snapshot_and_commit() -> None:
        """Save the arms, then commit the offsets the snapshot reflects."""
        snapshots.save(state.arms, settings.state_dir)
        state.last_snapshot_at = time.monotonic()
        state.dirty = False

        # Faust commits only acknowledged offsets, and these streams acknowledge nothing, so
        # the snapshot's offsets are committed through the consumer directly.
        offsets = {
            TP(topic, partition): offset + 1
            for (topic, partition), offset in state.arms.offsets.items()
        }
        if offsets:
            await app.consumer._commit(offsets)  # noqa: SLF001

    async def learn(stream: faust.StreamT, canonical: str) -> None:
        async for batch in _unacknowledged(stream).take_events(BATCH_SIZE, within=BATCH_WAIT_S):
            for event in batch:
                message = event.message
                position = (message.topic, message.partition)
                if state.arms.seen(position, message.offset):
                    state.n_skipped += 1
                    continue

                parsed = await read(event, canonical)
                try:
                    if isinstance(parsed, CatalogItem):
                        state.arms.learn_item(parsed)
                    elif parsed is not None:
                        state.arms.learn_event(parsed)
                except Exception as error:  # noqa: BLE001 - one bad message must not stop all
                    await failed(event, error)
                state.arms.mark(position, message.offset)
                state.dirty = True

            if state.due():
                await snapshot_and_commit()

    @app.agent(catalog_topic, name="catalog")
    async def learn_catalog(stream: faust.StreamT) -> None:
        await learn(stream, TOPICS.catalog)

    @app.agent(events_topic, name="events")
    async def learn_events(stream: faust.StreamT) -> None:
        await learn(stream, TOPICS.events)

    @app.agent(requests_topic, name="requests")
    async def serve_requests(stream: faust.StreamT) -> None:
        async for event in stream.events():
            request = await read(event, TOPICS.rec_requests)
            if request is None:
                continue
            try:
                recommendation = state.arms.recommend(request)
            except Exception as error:  # noqa: BLE001 - one bad request must not stop all
                await failed(event, error)
                continue
            state.n_served += 1
            await recommendations_topic.send(key=event.message.key, value=recommendation.to_bytes())

    @app.timer(interval=1.0)
    async def snapshot_when_idle() -> None:
        # Events may stop flowing right after a burst; the timer makes sure that burst is
        # saved and committed too.
        if state.due():
            await snapshot_and_commit()

    @app.page("/arms/")
    async def arms_view(web: Any, request: Any) -> Any:
        return web.json(state.summary())

    @app.on_before_shutdown.connect
    async def save_on_shutdown(sender: Any, **kwargs: Any) -> None:
        if state.dirty:
            await snapshot_and_commit()
        logger.info("worker_stopped summary=%s", state.summary()["arms"])

    @app.on_partitions_assigned.connect
    async def log_assignment(sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        state.n_partitions_assigned = len(assigned)
        logger.info(
            "partitions_assigned n_partitions=%d n_items=%d n_learnt=%s",
            len(assigned),
            state.arms.catalog.n_items,
            state.arms.n_learnt(),
        )

    return app, state


def run_worker(settings: WorkerSettings, loglevel: str = "WARNING") -> None:
    """Run the worker until SIGINT or SIGTERM; it snapshots its state before it exits."""
    app, _ = create_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
