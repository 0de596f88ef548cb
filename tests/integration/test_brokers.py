"""Both local brokers (Tansu and Apache Kafka) against the clients the project uses.

Guards what the rest of the system takes for granted from a broker: it answers metadata
requests, topic creation is idempotent and honours the partition count, and 100 keyed
messages produced with kafka-python come back unchanged and in per-key order through a
kafka-python consumer group and through an aiokafka consumer group (the client Faust uses).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType

from stream.admin import admin_client, broker_answers, create_topics
from stream.topics import Topics

pytestmark = pytest.mark.broker

N_MESSAGES = 100
N_USERS = 7
N_PARTITIONS = 3
READ_TIMEOUT_S = 60.0

# Tansu holds a new member's second JoinGroup until the placeholder member left by its
# first one expires, about half the session timeout; 6 s (the least Apache Kafka accepts by
# default) keeps the first join of a group near 3 s instead of about 23 s. Apache Kafka
# does not need it, and it is valid there.
GROUP_SETTINGS = {"session_timeout_ms": 6_000, "heartbeat_interval_ms": 2_000}


def _messages() -> list[tuple[bytes, bytes]]:
    """Keyed JSON messages; each user's ``seq`` counts up, so order per key is checkable."""
    seq: dict[str, int] = defaultdict(int)
    messages = []
    for index in range(N_MESSAGES):
        user_id = f"u{index % N_USERS}"
        value = {"user_id": user_id, "seq": seq[user_id], "index": index, "text": "é✓"}
        seq[user_id] += 1
        messages.append((user_id.encode(), json.dumps(value, ensure_ascii=False).encode()))
    return messages


def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    """Send with kafka-python and wait for every acknowledgement."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        futures = [producer.send(topic, key=key, value=value) for key, value in messages]
        producer.flush(timeout=30)
        for future in futures:
            # flush() does not raise on a failed batch; get() does.
            future.get(timeout=10)
    finally:
        producer.close()


def _by_key(messages: list[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    grouped: dict[bytes, list[bytes]] = defaultdict(list)
    for key, value in messages:
        grouped[key].append(value)
    return dict(grouped)


def _read_with_kafka_python(bootstrap: str, topic: str, group_id: str) -> list[tuple]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(READ_TIMEOUT_S * 1000),
        **GROUP_SETTINGS,
    )
    received = []
    try:
        for record in consumer:
            received.append((record.key, record.value))
            if len(received) == N_MESSAGES:
                break
    finally:
        consumer.close()
    return received


async def _read_with_aiokafka(bootstrap: str, topic: str, group_id: str) -> list[tuple]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        **GROUP_SETTINGS,
    )
    received = []
    await consumer.start()
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            async for record in consumer:
                received.append((record.key, record.value))
                if len(received) == N_MESSAGES:
                    break
    except TimeoutError:
        pass  # the assertions below report how many arrived
    finally:
        await consumer.stop()
    return received


def test_broker_answers_metadata_requests(broker) -> None:
    assert isinstance(broker_answers(broker.bootstrap), list)
    assert broker.bootstrap.startswith("127.0.0.1:")


def test_create_topics_twice_creates_nothing_the_second_time(broker, fresh_topics: Topics):
    names = fresh_topics.all()

    first = create_topics(
        broker.bootstrap, names, partitions=N_PARTITIONS, compacted=fresh_topics.compacted()
    )
    second = create_topics(
        broker.bootstrap, names, partitions=N_PARTITIONS, compacted=fresh_topics.compacted()
    )

    assert sorted(first) == sorted(names)
    assert second == []
    with admin_client(broker.bootstrap) as admin:
        described = {topic["name"]: topic for topic in admin.describe_topics(names)}
    assert {name: len(described[name]["partitions"]) for name in names} == dict.fromkeys(
        names, N_PARTITIONS
    )


def test_catalog_topic_is_compacted(broker, fresh_topics: Topics) -> None:
    create_topics(
        broker.bootstrap,
        [fresh_topics.catalog, fresh_topics.events],
        compacted=fresh_topics.compacted(),
    )

    # Tansu drops the connection when DescribeConfigs names configuration keys, and lists
    # only the settings given at creation, so ask for every key and allow a missing default.
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, name)
        for name in (fresh_topics.catalog, fresh_topics.events)
    ]
    with admin_client(broker.bootstrap) as admin:
        described = admin.describe_configs(resources, config_filter="all")["topic"]

    assert described[fresh_topics.catalog]["cleanup.policy"]["value"] == "compact"
    events_policy = described[fresh_topics.events].get("cleanup.policy", {"value": "delete"})
    assert events_policy["value"] == "delete"


@pytest.mark.parametrize("reader", ["kafka-python", "aiokafka"])
def test_produced_messages_come_back_unchanged_in_per_key_order(
    broker, fresh_topics: Topics, reader: str
) -> None:
    topic, group_id = fresh_topics.events, f"{fresh_topics.events}-group"
    create_topics(broker.bootstrap, [topic], partitions=N_PARTITIONS)
    sent = _messages()
    _produce(broker.bootstrap, topic, sent)

    started_at = time.monotonic()
    if reader == "kafka-python":
        received = _read_with_kafka_python(broker.bootstrap, topic, group_id)
    else:
        received = asyncio.run(_read_with_aiokafka(broker.bootstrap, topic, group_id))
    read_s = time.monotonic() - started_at

    assert len(received) == N_MESSAGES, f"{len(received)} of {N_MESSAGES} in {read_s:.1f} s"
    assert _by_key(received) == _by_key(sent)
