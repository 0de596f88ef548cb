"""Replays a real dataset through Kafka into the stream app, by the prequential protocol.

The protocol is the one of :mod:`producers.offline`; here every step is a Kafka message, so the
worker that serves live traffic learns the dataset and answers its requests. For each window of
interactions (at most one per user, see :func:`producers.offline.windows`):

1. the catalog records of the items first used in the window are published;
2. one rec-request per interaction is sent, at the interaction's time, its ``request_id``
   derived from the ``event_id`` (:func:`producers.offline.request_id_of`);
3. the slates are read back from the recommendations topic (:class:`~producers.driver.KafkaLoop`);
4. the interactions are sent, each carrying its slate's ``request_id`` and ``arm`` and, when the
   real item was in the slate, its ``position``.

Slates and interactions land in the event log like any other traffic, and
:mod:`analysis.replay_metrics` scores them from there.

Kafka keeps order within a partition only, so without help the worker may serve a window's
requests before it has learnt the previous window's interactions. Given a ``worker_progress``
probe (catalog items and events learnt, e.g. from the worker's ``/arms/`` view), the replay
waits for the worker to catch up before each window's requests, and the worker then sees the
states the offline runner sees with the same windows.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from producers.datasets import ReplayData, read_dataset
from producers.driver import DriveReport, KafkaLoop
from producers.offline import K, Outcome, answered, request_for, windows
from stream.events import Interaction, Recommendation
from stream.topics import TOPICS, Topics

logger = logging.getLogger(__name__)

#: Longest time the broker may hold a fetch of slates before answering, in milliseconds.
FETCH_MAX_WAIT_MS = 10

#: Catalog items and events the worker has learnt so far, in that order.
WorkerProgress = Callable[[], tuple[int, int]]


@dataclass
class ReplaySettings:
    """How the replay batches its round trips.

    Attributes
    ----------
    k
        Slate length asked for.
    window, lookahead
        Interactions per round trip at most, and how far past a waiting interaction a window
        may reach (see :func:`producers.offline.windows`).
    slate_timeout_s
        Wall seconds to wait for a window's slates; an interaction whose slate did not come is
        still sent, without a request id, and counted as expired.
    sync_timeout_s
        Wall seconds to wait for the worker to catch up (with a ``worker_progress`` probe)
        before carrying on regardless.
    """

    k: int = K
    window: int = 256
    lookahead: int = 2_000
    slate_timeout_s: float = 60.0
    sync_timeout_s: float = 60.0


@dataclass
class ReplayReport:
    """What a replay sent, what came back, and the outcomes scored on the producer's side."""

    dataset: str
    description: str
    outcomes: list[Outcome] = field(default_factory=list)
    n_windows: int = 0
    slates_foreign: int = 0
    requests_expired: int = 0
    sync_timeouts: int = 0
    messages: DriveReport = field(default_factory=DriveReport)
    wall_s: float = 0.0


def replay(
    dataset_dir: Path,
    fmt: str,
    bootstrap: str,
    topics: Topics = TOPICS,
    *,
    limit: int | None = None,
    settings: ReplaySettings | None = None,
    worker_progress: WorkerProgress | None = None,
    show_progress: bool = True,
) -> ReplayReport:
    """Read the dataset in ``dataset_dir`` (format ``fmt``) and replay it through Kafka."""
    data = read_dataset(dataset_dir, fmt, limit=limit)
    return replay_data(data, bootstrap, topics, settings, worker_progress, show_progress)


def replay_data(
    data: ReplayData,
    bootstrap: str,
    topics: Topics = TOPICS,
    settings: ReplaySettings | None = None,
    worker_progress: WorkerProgress | None = None,
    show_progress: bool = True,
) -> ReplayReport:
    """Replay interactions already read, window by window; see the module docstring."""
    settings = settings or ReplaySettings()
    report = ReplayReport(data.name, data.describe())
    loop = KafkaLoop(bootstrap, topics)
    published: set[str] = set()
    # Events the worker had learnt before this replay, so that only this replay's are awaited.
    n_events_before = worker_progress()[1] if worker_progress is not None else 0
    n_events_sent = 0
    started = time.monotonic()
    logger.info("replay_started dataset=%s bootstrap=%s", data.name, bootstrap)

    # NOTE: the broker is asked to answer the slates' fetches within 10 ms instead of the
    # consumer's default 500 ms. Tansu does not wake a waiting fetch when data arrives, so
    # every round trip would otherwise wait out the full fetch time. KafkaLoop takes no
    # consumer options, hence the write into the fetcher's configuration; once it does, pass
    # fetch_max_wait_ms through it instead.
    loop.consumer._fetcher.config["fetch_max_wait_ms"] = FETCH_MAX_WAIT_MS  # noqa: SLF001
    schedule = list(windows(data.interactions, settings.window, settings.lookahead))
    try:
        with _progress(show_progress) as progress:
            task = progress.add_task(
                f"replaying {data.name}", total=len(data.interactions), info=""
            )
            _publish_items(loop, data, _window_of(data, schedule, 0), published, report)
            for number in range(len(schedule)):
                window = _window_of(data, schedule, number)
                if worker_progress is not None:
                    awaited = n_events_before + n_events_sent
                    _wait_for_worker(worker_progress, len(published), awaited, settings, report)

                slates = _round_trip(loop, window, settings, report)
                n_events_sent += _send_interactions(loop, window, slates, report)
                # The next window's items go with this window's interactions, so that one
                # wait for the worker covers both.
                next_window = _window_of(data, schedule, number + 1)
                _publish_items(loop, data, next_window, published, report)
                loop.producer.flush()
                report.n_windows += 1
                progress.update(task, advance=len(window), info=_describe(report))
    finally:
        loop.close()

    report.wall_s = time.monotonic() - started
    logger.info(
        "replay_finished dataset=%s n_interactions=%d n_windows=%d expired=%d wall_s=%.1f",
        data.name,
        len(report.outcomes),
        report.n_windows,
        report.requests_expired,
        report.wall_s,
    )
    return report


def worker_view_progress(web_port: int, host: str = "127.0.0.1") -> WorkerProgress:
    """A probe reading catalog items and learnt events from a worker's ``/arms/`` view.

    The events are those the arms learnt; while the view does not answer, it reads as none.
    """
    url = f"http://{host}:{web_port}/arms/"

    def probe() -> tuple[int, int]:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                summary = json.loads(reply.read())
        except OSError:
            return 0, 0
        n_learnt = sum(arm.get("n_learnt", 0) for arm in summary.get("arms", {}).values())
        return int(summary.get("n_items", 0)), int(n_learnt)

    return probe


def _publish_items(
    loop: KafkaLoop,
    data: ReplayData,
    window: list[Interaction],
    published: set[str],
    report: ReplayReport,
) -> None:
    """Publish the catalog records of the items this window uses for the first time."""
    new_items = []
    for interaction in window:
        if interaction.item_id not in published:
            published.add(interaction.item_id)
            new_items.append(data.items[interaction.item_id])
    loop.send_all(new_items, report.messages)


def _window_of(data: ReplayData, schedule: list[list[int]], number: int) -> list[Interaction]:
    """The interactions of window ``number`` of ``schedule``; none past its end."""
    if number >= len(schedule):
        return []
    return [data.interactions[index] for index in schedule[number]]


def _round_trip(
    loop: KafkaLoop, window: list[Interaction], settings: ReplaySettings, report: ReplayReport
) -> dict[str, Recommendation]:
    """Send the window's requests and return the slates that answer them, by request id."""
    requests = [request_for(interaction, settings.k) for interaction in window]
    loop.send_all(requests, report.messages)
    # The requests must leave now: the worker cannot answer what sits in the producer's buffer.
    loop.producer.flush()

    waiting = {request.request_id for request in requests}
    slates: dict[str, Recommendation] = {}
    deadline = time.monotonic() + settings.slate_timeout_s
    while waiting and time.monotonic() < deadline:
        for slate in loop.slates(100, report.messages):
            if slate.request_id in waiting:
                waiting.discard(slate.request_id)
                slates[slate.request_id] = slate
            else:
                # A slate of an earlier run on the same topics, or a repeated answer.
                report.slates_foreign += 1

    for request_id in waiting:
        report.requests_expired += 1
        logger.warning(
            "request_expired request_id=%s timeout_s=%.0f", request_id, settings.slate_timeout_s
        )
    return slates


def _send_interactions(
    loop: KafkaLoop,
    window: list[Interaction],
    slates: dict[str, Recommendation],
    report: ReplayReport,
) -> int:
    """Send the window's interactions, each answering its slate; return how many were sent."""
    learnt = []
    for interaction in window:
        slate = slates.get(request_for(interaction).request_id)
        if slate is None:
            # No slate to score against, but the interaction happened: the worker learns it.
            learnt.append(interaction)
            continue
        answer, outcome = answered(interaction, slate)
        learnt.append(answer)
        report.outcomes.append(outcome)

    loop.send_all(learnt, report.messages)
    return len(learnt)


def _wait_for_worker(
    worker_progress: WorkerProgress,
    n_items: int,
    n_events: int,
    settings: ReplaySettings,
    report: ReplayReport,
) -> None:
    """Block until the worker has learnt ``n_items`` catalog items and ``n_events`` events."""
    deadline = time.monotonic() + settings.sync_timeout_s
    while time.monotonic() < deadline:
        items_learnt, events_learnt = worker_progress()
        if items_learnt >= n_items and events_learnt >= n_events:
            return
        time.sleep(0.002)

    report.sync_timeouts += 1
    logger.warning(
        "worker_behind n_items=%d n_events=%d timeout_s=%.0f action=carry_on",
        n_items,
        n_events,
        settings.sync_timeout_s,
    )


def _describe(report: ReplayReport) -> str:
    hits = sum(outcome.hit for outcome in report.outcomes)
    return f"{report.n_windows:,} windows, {hits:,} hits, {report.requests_expired:,} expired"


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        disable=not show,
        transient=False,
    )
