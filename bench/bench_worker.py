"""Benchmark of the learning path: how fast events get from Kafka into the arms' models.

One Tansu broker, one events topic filled once with the same seeded clicks, then three readers
of the whole topic, side by side in one run:

1. ``raw``: an aiokafka consumer that only decodes the JSON (the ceiling of the client);
2. ``in-process``: the same consumer plus validation and ``ArmModels.learn_event`` (the cost of
   our own code, no stream framework);
3. ``faust``: a real ``streamrec worker`` process, timed from its first to its last learnt event
   through its ``/arms/`` view (the framework's cost on top).

Run with ``python bench/bench_worker.py [--events 100000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from aiokafka import AIOKafkaConsumer
from kafka import KafkaProducer

from stream.admin import create_topics
from stream.arms import ArmModels
from stream.assignment import Experiment
from stream.brokers.process import free_port
from stream.brokers.tansu import TansuBroker
from stream.events import CatalogItem, Interaction
from stream.topics import TOPICS
from stream.validation import parse
from streamrec.demo import start_worker, stop_worker, wait_for_worker, worker_summary

START = datetime(2026, 1, 5, tzinfo=UTC)
N_ITEMS = 2_000
N_USERS = 10_000

#: Seconds without progress after which the worker is declared stuck.
STALL_S = 30.0


def catalog() -> list[CatalogItem]:
    return [
        CatalogItem(
            item_id=f"i{index:05d}",
            category=f"c{index % 9}",
            brand=f"b{index % 36}",
            price=100.0 + index,
            price_tier=index % 5,
            stock=1_000,
            updated_at=START,
        )
        for index in range(N_ITEMS)
    ]


def clicks(n_events: int) -> list[Interaction]:
    rng = np.random.default_rng(1)
    users = rng.integers(0, N_USERS, n_events)
    items = rng.zipf(1.3, n_events) % N_ITEMS
    return [
        Interaction(
            event_id=f"e{number}",
            event_type="click",
            event_at=START + timedelta(seconds=number),
            user_id=f"u{user:05d}",
            item_id=f"i{item:05d}",
            session_id=f"s{user}",
        )
        for number, (user, item) in enumerate(zip(users, items, strict=True))
    ]


def fill(bootstrap: str, n_events: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024)
    for item in catalog():
        producer.send(TOPICS.catalog, key=item.item_id.encode(), value=item.to_bytes())
    for event in clicks(n_events):
        producer.send(TOPICS.events, key=event.user_id.encode(), value=event.to_bytes())
    producer.flush()
    producer.close()


async def read_all(bootstrap: str, n_events: int, learn: bool) -> float:
    """Seconds to read every event (and learn it, with ``learn``)."""
    arms = ArmModels(Experiment())
    for item in catalog():
        arms.learn_item(item)

    consumer = AIOKafkaConsumer(
        TOPICS.events,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        seen, started = 0, None
        while seen < n_events:
            batches = await consumer.getmany(timeout_ms=1_000, max_records=10_000)
            started = started or time.perf_counter()
            for records in batches.values():
                for record in records:
                    if learn:
                        arms.learn_event(parse(record.value, topic=TOPICS.events))
                    else:
                        json.loads(record.value)
                seen += len(records)
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def faust_seconds(bootstrap: str, n_events: int) -> float:
    """Seconds a real worker takes from its first to its last learnt event."""
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        worker = start_worker(bootstrap, Path(folder) / "state", port, Path(folder) / "w.log")
        try:
            wait_for_worker(worker, port)
            first_at, last_progress_at, last = None, time.perf_counter(), 0
            while time.perf_counter() - last_progress_at < STALL_S:
                summary = worker_summary(port)
                learnt = sum(arm["n_learnt"] for arm in summary.get("arms", {}).values())
                if learnt and first_at is None:
                    first_at = time.perf_counter()
                if learnt >= n_events:
                    return time.perf_counter() - first_at
                if learnt > last:
                    last, last_progress_at = learnt, time.perf_counter()
                time.sleep(0.05)
            raise RuntimeError(f"the worker stopped at {last:,} of {n_events:,} events learnt")
        finally:
            stop_worker(worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    n_events = parser.parse_args().events

    with TansuBroker(port=free_port()) as broker:
        create_topics(broker.bootstrap, TOPICS.all())
        fill(broker.bootstrap, n_events)

        raw = asyncio.run(read_all(broker.bootstrap, n_events, learn=False))
        own = asyncio.run(read_all(broker.bootstrap, n_events, learn=True))
        framework = faust_seconds(broker.bootstrap, n_events)

    print(f"{n_events:,} click events, Tansu, 8 partitions")
    print(f"{'reader':<12} {'events/s':>10} {'vs raw':>8}")
    for name, seconds in (("raw", raw), ("in-process", own), ("faust", framework)):
        print(f"{name:<12} {n_events / seconds:>10,.0f} {raw / seconds:>8.2f}")


if __name__ == "__main__":
    main()
