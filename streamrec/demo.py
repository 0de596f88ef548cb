"""The closed loop end to end on the embedded broker, ending with the arm comparison.

``streamrec demo`` starts a Tansu broker, creates the topics, starts a real Faust worker in a
child process and the event-log sink in a thread, runs the simulated shoppers through Kafka,
waits until the sink has written every message to Parquet, stops everything and prints the
analysis of the log. The log and the worker's snapshot stay under ``out_dir`` for further
queries (``streamrec analyze`` and ``streamrec sql``).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from rich.console import Console

from producers.driver import DriveReport, DriveSettings, drive
from producers.simulator import ShopperSimulator
from stream.admin import create_topics
from stream.brokers.process import free_port
from stream.brokers.tansu import TansuBroker
from stream.sink import EventLogSink, SinkStats
from stream.topics import TOPICS, Topics

logger = logging.getLogger(__name__)

WORKER_READY_TIMEOUT_S = 120.0


class WorkerFailed(RuntimeError):
    """The worker process exited while it was expected to serve."""


DRAIN_TIMEOUT_S = 120.0


@dataclass
class DemoSettings:
    """The demo's size and where it leaves its files."""

    days: float = 1.0
    seed: int = 7
    n_items: int = 2_000
    n_shoppers: int = 10_000
    out_dir: Path = Path("var/demo")


@dataclass
class DemoRun:
    """Where a finished demo left its files, and what went through the loop."""

    log_dir: Path
    state_dir: Path
    report: DriveReport
    sink_stats: SinkStats


def run_demo(settings: DemoSettings, console: Console) -> DemoRun:
    """Run the loop once and return where its event log is."""
    run_dir = settings.out_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_dir, state_dir = run_dir / "log", run_dir / "state"

    console.rule("streamrec demo")
    with TansuBroker(port=free_port()) as broker:
        console.print(f"1. Tansu broker ready at {broker.bootstrap} in {broker.startup_s:.1f} s")
        create_topics(broker.bootstrap, TOPICS.all())
        console.print(f"2. Topics created: {', '.join(TOPICS.all())}")

        web_port = free_port()
        worker = start_worker(broker.bootstrap, state_dir, web_port, run_dir / "worker.log")
        try:
            waited = wait_for_worker(worker, web_port)
            console.print(f"3. Faust worker {worker.pid} serving five arms after {waited:.0f} s")
            report, stats = _simulate_and_log(
                broker.bootstrap, settings, log_dir, web_port, console
            )
        finally:
            stop_worker(worker)
        console.print(f"6. Worker stopped; its snapshot is in {state_dir}")

    return DemoRun(log_dir=log_dir, state_dir=state_dir, report=report, sink_stats=stats)


def _simulate_and_log(
    bootstrap: str, settings: DemoSettings, log_dir: Path, web_port: int, console: Console
) -> tuple[DriveReport, SinkStats]:
    """Run the shoppers while the sink writes the log; return once every message is written."""
    sink = EventLogSink(bootstrap, log_dir, roll_seconds=5.0)
    stop = threading.Event()
    sink_thread = threading.Thread(target=sink.run, args=(stop,), name="sink", daemon=True)
    sink_thread.start()
    console.print(f"4. Event-log sink writing Parquet under {log_dir}")

    simulator = ShopperSimulator(
        seed=settings.seed, n_items=settings.n_items, n_shoppers=settings.n_shoppers
    )
    console.print(
        f"5. {settings.n_shoppers:,} simulated shoppers, {settings.n_items:,} items, "
        f"{settings.days:g} simulated day(s):"
    )
    try:
        report = drive(
            simulator,
            bootstrap,
            DriveSettings(duration_s=settings.days * 86_400.0),
            catalog_loaded=lambda: wait_for_items(web_port, settings.n_items),
        )
        wait_for_sink(sink, bootstrap)
        wait_until_learnt(web_port, bootstrap)
    finally:
        stop.set()
        sink_thread.join(timeout=60)
    if sink_thread.is_alive():
        raise TimeoutError("the sink did not finish writing its last files within 60 s")

    counters = simulator.counters
    console.print(
        f"   {counters.requests_sent:,} requests, {report.slates_received:,} slates, "
        f"{counters.n_events:,} interactions, {counters.references:,} reference slates\n"
        f"   {sink.stats.total_messages():,} messages in Parquet, loop {report.wall_s:.0f} s"
    )
    return report, sink.stats


def start_worker(
    bootstrap: str,
    state_dir: Path,
    web_port: int,
    log_path: Path,
    topics: Topics = TOPICS,
    app_id: str = "streamrec-worker",
    snapshot_interval_s: float = 10.0,
) -> subprocess.Popen:
    """Start ``streamrec worker`` as a child process, its output going to ``log_path``.

    ``topics`` must be :data:`TOPICS` or ``TOPICS.with_prefix(...)``: the worker is told the
    prefix, not each name.
    """
    prefix = topics.catalog.removesuffix(TOPICS.catalog)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        command = _worker_command(bootstrap, state_dir, web_port, prefix, app_id)
        command += ["--snapshot-interval", str(snapshot_interval_s)]
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _worker_command(
    bootstrap: str, state_dir: Path, web_port: int, prefix: str, app_id: str
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamrec",
        "worker",
        "--bootstrap",
        bootstrap,
        "--state-dir",
        str(state_dir),
        "--web-port",
        str(web_port),
        "--topic-prefix",
        prefix,
        "--app-id",
        app_id,
    ]


def wait_for_worker(worker: subprocess.Popen, web_port: int) -> float:
    """Block until the worker has its partitions; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < WORKER_READY_TIMEOUT_S:
        if worker.poll() is not None:
            raise WorkerFailed(f"the worker exited with code {worker.returncode}; see worker.log")
        if worker_summary(web_port).get("n_partitions_assigned", 0) > 0:
            return time.monotonic() - started
        time.sleep(0.5)
    raise TimeoutError(f"the worker did not get its partitions in {WORKER_READY_TIMEOUT_S:.0f} s")


def worker_summary(web_port: int) -> dict:
    """The worker's ``/arms/`` view, or an empty dict while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/arms/", timeout=2) as reply:
            return json.loads(reply.read())
    except OSError:
        return {}


def wait_for_sink(sink: EventLogSink, bootstrap: str, topics: Topics = TOPICS) -> None:
    """Block until the sink has read every message on every topic."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, number)
            for topic in topics.all()
            for number in consumer.partitions_for_topic(topic) or ()
        ]
        started = time.monotonic()
        while time.monotonic() - started < DRAIN_TIMEOUT_S:
            total = sum(consumer.end_offsets(partitions).values())
            if sink.stats.total_messages() >= total:
                return
            time.sleep(0.5)
    finally:
        consumer.close()
    raise TimeoutError(f"the sink did not catch up within {DRAIN_TIMEOUT_S:.0f} s")


def wait_for_items(web_port: int, n_items: int, timeout_s: float = 60.0) -> None:
    """Block until the worker's catalog holds ``n_items`` items."""
    deadline = time.monotonic() + timeout_s
    while worker_summary(web_port).get("n_items", 0) < n_items:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker did not load {n_items:,} items in {timeout_s:.0f} s")
        time.sleep(0.2)


def wait_until_learnt(
    web_port: int, bootstrap: str, topics: Topics = TOPICS, timeout_s: float = DRAIN_TIMEOUT_S
) -> None:
    """Block until the worker has applied every message of the events and catalog topics."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, number)
            for topic in (topics.events, topics.catalog)
            for number in consumer.partitions_for_topic(topic) or ()
        ]
        ends = {
            f"{tp.topic}:{tp.partition}": end
            for tp, end in consumer.end_offsets(partitions).items()
            if end > 0
        }
    finally:
        consumer.close()

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        offsets = worker_summary(web_port).get("offsets", {})
        if all(offsets.get(position, -1) >= end - 1 for position, end in ends.items()):
            return
        time.sleep(0.2)
    raise TimeoutError(f"the worker did not learn every event within {timeout_s:.0f} s")


def stop_worker(worker: subprocess.Popen) -> None:
    """SIGTERM, so the worker snapshots its state; kill it if it hangs."""
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        logger.warning("worker_killed pid=%d reason=sigterm_timeout timeout_s=30", worker.pid)
        worker.kill()
        worker.wait()
