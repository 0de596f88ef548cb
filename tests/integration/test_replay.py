"""Dataset replay through a real worker: the log scores the arms as the offline runner does.

The first 500 MovieLens ratings are replayed through Kafka into a Faust worker process, with
the event-log sink writing Parquet. The per-arm hit rates computed by DuckDB from the log must
equal those the replayer scored from the slates it received (the same slates, read back from
Parquet), and agree with the offline runner on the same windows: the worker runs the same arm
code on the same states, up to the order in which it applies one window's catalog records and
interactions, which Kafka does not fix across partitions.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from analysis.replay_metrics import outcome_metrics, replay_metrics
from analysis.views import connect
from producers.datasets import read_dataset
from producers.offline import run_offline
from producers.replay import ReplaySettings, replay_data, worker_view_progress
from stream.admin import create_topics
from stream.brokers.process import BrokerProcess, free_port
from stream.sink import EventLogSink
from stream.topics import Topics
from streamrec.demo import start_worker, stop_worker, wait_for_sink, wait_for_worker

pytestmark = pytest.mark.broker

MOVIELENS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "movielens-100k"
#: Each window costs two trips through the worker (its slates, then the wait until it has
#: learnt the window), about 1.5 s on Tansu, so the slice is kept to about 150 windows.
N_RATINGS = 500
SETTINGS = ReplaySettings(window=64, lookahead=2_000, slate_timeout_s=30.0)

#: Largest differences in hit rate allowed between the worker and the offline runner, per arm
#: and over all arms. Equal windows give equal learnt counts, but not equal states: the worker
#: numbers items in the order their first catalog record or event reaches it, which Kafka does
#: not fix across partitions, so ties in the scores break differently, and the matrix
#: factorisation draws its negative samples in another order. With about 100 interactions of
#: a handful of users an arm, that moved one arm's hit rate by up to 0.08 in runs here; over
#: all arms the differences mostly cancel. A stream path that learnt nothing, or learnt
#: another arm's events, misses the pooled figure by far more (the learning arms hit 0.1-0.15).
ARM_TOLERANCE = 0.10
POOLED_TOLERANCE = 0.04


@pytest.fixture
def movielens_dir() -> Path:
    if not (MOVIELENS / "u.data").exists():
        reason = f"MovieLens 100K is not at {MOVIELENS} (the shared data folder beside the repo)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return MOVIELENS


def test_replayed_log_scores_the_arms_as_the_offline_runner(
    broker: BrokerProcess,
    fresh_topics: Topics,
    topic_prefix: str,
    movielens_dir: Path,
    tmp_path: Path,
) -> None:
    create_topics(broker.bootstrap, fresh_topics.all(), partitions=4)
    data = read_dataset(movielens_dir, "movielens", limit=N_RATINGS)
    web_port = free_port()
    worker = start_worker(
        broker.bootstrap,
        tmp_path / "state",
        web_port,
        tmp_path / "worker.log",
        fresh_topics,
        app_id=f"{topic_prefix}-worker",
    )
    sink = EventLogSink(
        broker.bootstrap,
        tmp_path / "log",
        fresh_topics,
        roll_seconds=2.0,
        group_id=f"{topic_prefix}-sink",
    )
    stop = threading.Event()
    sink_thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    try:
        wait_for_worker(worker, web_port)
        sink_thread.start()
        report = replay_data(
            data,
            broker.bootstrap,
            fresh_topics,
            SETTINGS,
            worker_progress=worker_view_progress(web_port),
            show_progress=False,
        )
        wait_for_sink(sink, broker.bootstrap, fresh_topics)
    finally:
        stop.set()
        sink_thread.join(timeout=60)
        stop_worker(worker)

    # Every interaction got its slate, and the worker kept up at every sync point.
    assert report.requests_expired == 0
    assert report.sync_timeouts == 0
    assert len(report.outcomes) == N_RATINGS

    # The log holds the same slates and interactions the replayer saw.
    logged = replay_metrics(connect(tmp_path / "log", fresh_topics))
    scored = outcome_metrics((o.user_id, o.arm, o.position) for o in report.outcomes)
    for from_log, from_slates in zip(logged, scored, strict=True):
        assert (from_log.arm, from_log.n_users, from_log.n_interactions) == (
            from_slates.arm,
            from_slates.n_users,
            from_slates.n_interactions,
        )
        # DuckDB may sum in another order: equal up to rounding.
        assert from_log.hit_rate == pytest.approx(from_slates.hit_rate, abs=1e-12)
        assert from_log.ndcg == pytest.approx(from_slates.ndcg, abs=1e-12)

    assert len(logged) == 5

    # The offline runner on the same windows finds the same quality per arm.
    offline_run = run_offline(data, window=SETTINGS.window, lookahead=SETTINGS.lookahead)
    offline = outcome_metrics((o.user_id, o.arm, o.position) for o in offline_run.outcomes)
    assert [arm.arm for arm in logged] == [arm.arm for arm in offline] == list("ABCDE")
    for streamed, direct in zip(logged, offline, strict=True):
        assert streamed.n_interactions == direct.n_interactions
        assert streamed.hit_rate == pytest.approx(direct.hit_rate, abs=ARM_TOLERANCE), streamed.arm
    assert _pooled(logged) == pytest.approx(_pooled(offline), abs=POOLED_TOLERANCE)


def _pooled(arms: list) -> float:
    """Mean over every user of every arm of the user's hit rate."""
    total = sum(arm.hit_rate * arm.n_users for arm in arms)
    return total / sum(arm.n_users for arm in arms)
