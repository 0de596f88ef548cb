"""Topic administration and broker readiness checks, for Apache Kafka and Tansu alike."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable

import kafka.errors
from kafka import KafkaAdminClient
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from stream.topics import DEFAULT_PARTITIONS, TOPICS

logger = logging.getLogger(__name__)

# Settings of every admin client made here. No protocol version is pinned: the client reads
# the broker's ApiVersions answer, and that works on both brokers (Tansu answers as a 3.9-like
# broker, Apache Kafka 4.x only accepts the newer request versions). Tansu's consumer-group
# quirks do not touch the admin requests used here (Metadata, CreateTopics).
ADMIN_CLIENT_SETTINGS: dict[str, object] = {
    "client_id": "streamrec-admin",
    "request_timeout_ms": 15_000,
}

# Topic configuration of the compacted topics: keep the latest record of each key.
COMPACTED_CONFIG = {"cleanup.policy": "compact"}


class TopicMissing(RuntimeError):
    """A topic the caller needs does not exist on the broker."""


class BrokerExited(RuntimeError):
    """The broker process being waited for is no longer running."""


def admin_client(bootstrap: str, timeout_s: float = 10.0) -> KafkaAdminClient:
    """A kafka-python admin client connected to ``bootstrap``.

    Parameters
    ----------
    bootstrap
        ``host:port`` of a broker.
    timeout_s
        How long to try to reach the broker before raising ``kafka.errors.KafkaTimeoutError``
        (or ``NoBrokersAvailable``).
    """
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        bootstrap_timeout_ms=int(timeout_s * 1000),
        **ADMIN_CLIENT_SETTINGS,
    )


def broker_answers(bootstrap: str, timeout_s: float = 2.0) -> list[str]:
    """Ask the broker for cluster metadata once; return the topic names it lists.

    Raises
    ------
    kafka.errors.KafkaError
        The broker did not answer within ``timeout_s``.
    """
    client = admin_client(bootstrap, timeout_s)
    try:
        return client.list_topics()
    finally:
        client.close()


def wait_for_broker(
    bootstrap: str,
    timeout_s: float = 30.0,
    still_running: Callable[[], bool] | None = None,
) -> None:
    """Block until the broker at ``bootstrap`` answers a metadata request.

    Parameters
    ----------
    bootstrap
        ``host:port`` of the broker.
    timeout_s
        Total time to keep trying.
    still_running
        Optional check of the broker process; when it returns False the wait stops at once
        instead of running out the clock.

    Raises
    ------
    TimeoutError
        The broker did not answer within ``timeout_s``; the message names the last error.
    BrokerExited
        ``still_running`` reported that the broker process has gone.
    """

    def probe() -> None:
        if still_running is not None and not still_running():
            raise BrokerExited(f"the broker process for {bootstrap} exited")

        # A plain TCP connect first: until the port accepts, kafka-python would only log
        # connection errors at ERROR level on every attempt.
        host, _, port = bootstrap.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=1.0):
            pass

        broker_answers(bootstrap, timeout_s=min(2.0, timeout_s))

    retrying = Retrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_exponential(multiplier=0.05, max=1.0),
        retry=retry_if_exception_type((kafka.errors.KafkaError, OSError)),
    )
    try:
        retrying(probe)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise TimeoutError(
            f"no metadata answer from {bootstrap} within {timeout_s:.0f} s (last error: {last!r})"
        ) from last


def create_topics(
    bootstrap: str,
    names: Iterable[str] | None = None,
    partitions: int = DEFAULT_PARTITIONS,
    replication: int = 1,
    compacted: Iterable[str] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet; return the names actually created.

    Creating a topic that already exists is not an error, so running this twice creates
    nothing the second time. Existing topics are left as they are, even when their partition
    count differs from ``partitions``.

    Parameters
    ----------
    bootstrap
        ``host:port`` of a broker.
    names
        Topic names; every topic of the experiment (``TOPICS.all()``) when omitted.
    partitions
        Partition count of each new topic.
    replication
        Replication factor of each new topic (1 on a single-node broker).
    compacted
        Names of the topics that get log compaction (the latest record per key is kept);
        ``TOPICS.compacted()`` when omitted.

    Returns
    -------
    list[str]
        The topics this call created, in the order given; empty when all existed.
    """
    wanted = list(dict.fromkeys(TOPICS.all() if names is None else names))

    client = admin_client(bootstrap)
    try:
        existing = set(client.list_topics())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            logger.debug("topics_present bootstrap=%s n_topics=%d", bootstrap, len(wanted))
            return []

        compact = TOPICS.compacted() if compacted is None else set(compacted)
        new_topics = {
            name: _topic_spec(partitions, replication, compact=name in compact) for name in missing
        }
        response = client.create_topics(new_topics, raise_errors=False, wait_for_metadata=True)
    finally:
        client.close()

    return _created_names(response)


def _topic_spec(partitions: int, replication: int, compact: bool) -> dict[str, object]:
    spec: dict[str, object] = {"num_partitions": partitions, "replication_factor": replication}
    if compact:
        spec["configs"] = dict(COMPACTED_CONFIG)
    return spec


def _created_names(response: dict) -> list[str]:
    """Names created by a CreateTopics answer; raise on errors other than 'already exists'."""
    created = []
    for result in response["topics"]:
        error = kafka.errors.for_code(result["error_code"])
        if error is kafka.errors.NoError:
            created.append(result["name"])
            logger.info("topic_created topic=%s", result["name"])
        elif error is kafka.errors.TopicAlreadyExistsError:
            # Another client created it between our listing and our request.
            logger.debug("topic_exists topic=%s", result["name"])
        else:
            raise error(f"cannot create topic {result['name']}: {result['error_message']}")
    return created
