"""The sink against a real broker: what is produced on every topic comes back from the Parquet log.

Each test works on its own uniquely named topics (the ``fresh_topics`` fixture) and consumer group,
so tests sharing one broker cannot see each other's messages or offsets.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from analysis.views import connect
from stream.events import (
    CatalogItem,
    Contract,
    Interaction,
    Recommendation,
    RecRequest,
    Reference,
    SlateItem,
)
from stream.sink import EventLogSink
from stream.topics import Topics

pytestmark = pytest.mark.broker

T0 = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
N_USERS = 20
N_EVENTS = 400
N_PARTITIONS = 3


def _create(bootstrap: str, topics: Topics) -> Topics:
    """Create the topics, with a few partitions each, and return them."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics(
            [NewTopic(name, N_PARTITIONS, 1) for name in topics.all()], timeout_ms=10_000
        )
    finally:
        admin.close()
    return topics


def _messages(topics: Topics) -> dict[str, list[Contract]]:
    """A known stream: catalog, requests, slates, every kind of event and references."""
    users = [f"u{index:03d}" for index in range(N_USERS)]
    catalog = [
        CatalogItem(
            item_id=f"i{index}",
            category="shoes",
            brand=f"b{index % 3}",
            price=10.0 + index,
            price_tier=index % 5,
            stock=index,
            tags=["red"] * (index % 2),
            updated_at=T0,
        )
        for index in range(10)
    ]
    requests = [
        RecRequest(request_id=f"r{i}", user_id=user, session_id=f"s-{user}", requested_at=T0)
        for i, user in enumerate(users)
    ]
    slates = [
        Recommendation(
            request_id=request.request_id,
            user_id=request.user_id,
            session_id=request.session_id,
            arm="ABCDE"[i % 5],
            model_version="v1",
            slate=[
                SlateItem(item_id=f"i{p}", position=p, score=1.0 / (p + 1), source="popularity")
                for p in range(3)
            ],
            requested_at=T0,
            served_at=T0 + timedelta(milliseconds=3),
        )
        for i, request in enumerate(requests)
    ]
    kinds = ("impression", "click", "add_to_cart", "purchase")
    events = [
        Interaction(
            event_id=f"e{i}",
            event_type=kinds[i % 4],
            event_at=T0 + timedelta(seconds=i),
            user_id=users[i % N_USERS],
            item_id=f"i{i % 10}",
            session_id=f"s-{users[i % N_USERS]}",
            request_id=f"r{i % N_USERS}",
            arm="ABCDE"[(i % N_USERS) % 5],
            position=i % 3,
            price=2.5 if i % 4 == 3 else None,
            quantity=1 + i % 2 if i % 4 == 3 else None,
        )
        for i in range(N_EVENTS)
    ]
    references = [
        Reference(
            request_id=slate.request_id,
            user_id=slate.user_id,
            arm=slate.arm,
            served_value=0.5,
            random_value=0.25,
            oracle_value=1.0,
            computed_at=T0,
        )
        for slate in slates[::2]
    ]
    return {
        topics.catalog: catalog,
        topics.rec_requests: requests,
        topics.recommendations: slates,
        topics.events: events,
        topics.references: references,
    }


def _committed(bootstrap: str, group_id: str) -> dict[str, int]:
    """The group's committed offsets, summed per topic: messages consumed from offset 0."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group_id)[group_id]
    finally:
        admin.close()

    totals: dict[str, int] = {}
    for partition, committed in offsets.items():
        totals[partition.topic] = totals.get(partition.topic, 0) + committed.offset
    return totals


def _produce(bootstrap: str, messages: dict[str, list[bytes | Contract]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for topic, values in messages.items():
            for value in values:
                raw = value if isinstance(value, bytes) else value.to_bytes()
                key = json.loads(raw).get("user_id", "none") if raw.startswith(b"{") else "bad"
                producer.send(topic, raw, key=str(key).encode())
        producer.flush(timeout=30)
    finally:
        producer.close()


def test_every_message_produced_is_read_back_from_parquet(
    broker, fresh_topics: Topics, tmp_path: Path
) -> None:
    topics = _create(broker.bootstrap, fresh_topics)
    messages = _messages(topics)
    _produce(broker.bootstrap, messages)

    # A small roll size, so that each busy topic is spread over several files.
    sink = EventLogSink(
        broker.bootstrap, tmp_path, topics, roll_bytes=16 * 1024, group_id=topics.events
    )
    stats = sink.run(idle_seconds=3)

    assert stats.rows_written == {topic: len(messages.get(topic, [])) for topic in topics.all()}
    assert stats.files_written[topics.events] > 1
    assert list(tmp_path.rglob("*.tmp")) == []

    con = connect(tmp_path, topics)
    events = con.execute(
        "SELECT event_id, event_type, event_at, user_id, item_id, request_id, arm, position, "
        "price, quantity FROM events ORDER BY event_at"
    ).fetchall()
    expected = [
        (
            e.event_id,
            e.event_type,
            e.event_at,
            e.user_id,
            e.item_id,
            e.request_id,
            e.arm,
            e.position,
            e.price,
            e.quantity,
        )
        for e in messages[topics.events]
    ]
    assert events == expected

    slates = con.execute(
        "SELECT request_id, arm, slate FROM recommendations ORDER BY request_id"
    ).fetchall()
    by_request = {s.request_id: s for s in messages[topics.recommendations]}
    assert len(slates) == len(by_request)
    for request_id, arm, slate in slates:
        assert arm == by_request[request_id].arm
        assert slate == [item.model_dump() for item in by_request[request_id].slate]

    for view, role in [("rec_requests", "rec_requests"), ("catalog", "catalog")]:
        count = con.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
        assert count == len(messages[getattr(topics, role)]), view
    assert con.execute(
        'SELECT count(*), sum(served_value), min(oracle_value) FROM "references"'
    ).fetchone() == (10, 5.0, 1.0)
    assert con.execute("SELECT count(*) FROM user_arm").fetchone() == (N_USERS,)

    # Every partition's rows carry their own offsets: 0, 1, 2, ... without gaps.
    gaps = con.execute(
        "SELECT kafka_partition, count(*), max(kafka_offset) FROM raw_events GROUP BY 1"
    ).fetchall()
    assert all(n == last + 1 for _, n, last in gaps)


def test_invalid_messages_become_dead_letters_and_offsets_are_committed(
    broker, fresh_topics: Topics, tmp_path: Path
) -> None:
    topics = _create(broker.bootstrap, fresh_topics)
    valid = _messages(topics)[topics.references][:3]
    no_values = b'{"event_type": "reference", "request_id": "r-bad", "user_id": "u1"}'
    _produce(
        broker.bootstrap,
        {
            topics.references: [*valid, no_values],
            topics.events: [b"not json at all"],
            topics.recommendations: [b"[1, 2, 3]"],
        },
    )

    group_id = topics.events
    stats = EventLogSink(broker.bootstrap, tmp_path, topics, group_id=group_id).run(idle_seconds=3)

    # References and slates: the sink publishes the dead letters and then writes them itself.
    assert stats.dead_letters_published[topics.references] == 1
    assert stats.dead_letters_published[topics.recommendations] == 1
    # Events: the stream worker publishes those, so the sink only counts them.
    assert stats.dead_letters_counted[topics.events] == 1

    con = connect(tmp_path, topics)
    dead = con.execute(
        "SELECT source_topic, reason, from_base64(payload_b64), source_offset IS NOT NULL "
        "FROM dead_letters ORDER BY source_topic"
    ).fetchall()
    assert dead == [
        (topics.recommendations, "not_an_object", b"[1, 2, 3]", True),
        (topics.references, "missing_field", no_values, True),
    ]
    assert con.execute('SELECT count(*) FROM "references"').fetchone() == (3,)

    # Everything read was committed, the dead letters the sink published and read back too.
    # (Checked through the admin API: a second sink in the same group would show it as well,
    # but on Tansu it first waits out the session of the first one.)
    assert _committed(broker.bootstrap, group_id) == {
        topics.references: 4,
        topics.events: 1,
        topics.recommendations: 1,
        topics.dead_letter: 2,
    }


def test_max_messages_ends_the_run_with_everything_written_and_committed(
    broker, fresh_topics: Topics, tmp_path: Path
) -> None:
    topics = _create(broker.bootstrap, fresh_topics)
    events = _messages(topics)[topics.events]
    _produce(broker.bootstrap, {topics.events: events})

    sink = EventLogSink(broker.bootstrap, tmp_path, topics, group_id=topics.events)
    stats = sink.run(max_messages=50)

    # Exactly that many were read, written and committed; the rest waits for the next run.
    written = stats.rows_written[topics.events]
    assert written == stats.messages[topics.events] == 50
    assert _committed(broker.bootstrap, topics.events) == {topics.events: written}


def test_stop_event_ends_a_run_from_another_thread(
    broker, fresh_topics: Topics, tmp_path: Path
) -> None:
    topics = _create(broker.bootstrap, fresh_topics)
    _produce(broker.bootstrap, {topics.events: _messages(topics)[topics.events]})
    stop = threading.Event()
    sink = EventLogSink(broker.bootstrap, tmp_path, topics, group_id=topics.events)

    # Stop once everything produced has been read; the buffer is written on the way out.
    def stop_when_done() -> None:
        deadline = time.monotonic() + 60
        while sink.stats.messages[topics.events] < N_EVENTS and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()

    watcher = threading.Thread(target=stop_when_done)
    watcher.start()
    stats = sink.run(stop)
    watcher.join()

    assert stats.rows_written[topics.events] == N_EVENTS
    assert connect(tmp_path, topics).execute("SELECT count(*) FROM events").fetchone() == (
        N_EVENTS,
    )
