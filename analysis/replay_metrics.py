"""Per-arm hit-rate@k and NDCG@k of a prequential dataset replay, with intervals over users.

A replayed interaction is scored against the slate served just before it (see
:mod:`producers.offline` for the protocol): a *hit* when its item is in the slate, and a
discounted gain of ``1 / log2(position + 2)`` for a hit at ``position`` (0-based), which is
NDCG@k with one relevant item. Arms are randomised by user, so users are the units: each
user's hits and gains are averaged first, and the arm's value is the mean of those user means,
with a 95 % Student-t interval over users.

DuckDB does the joining and the per-user sums; Python only turns the sums into intervals. The
same SQL scores the Parquet log of a Kafka replay (:func:`replay_metrics`) and the outcomes of
the offline runner (:func:`outcome_metrics`), so both paths share one definition.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from rich.console import Console
from rich.table import Table
from scipy import stats

__all__ = ["ArmReplayMetrics", "outcome_metrics", "render_replay_table", "replay_metrics"]

#: Replayed interactions in the event log, each with the position of its item in the slate
#: served just before it (NULL for a miss). A replayed interaction is recognised by its
#: request id, which the replayer derives from the event id as ``'rq-' || event_id``; the
#: position is read from the served slate itself, not from the event's own claim.
LOGGED_OUTCOMES_SQL = """
    SELECT e.user_id, r.arm, s.position
    FROM events AS e
    JOIN recommendations AS r ON r.request_id = e.request_id
    LEFT JOIN slate_items AS s
        ON s.request_id = e.request_id AND s.item_id = e.item_id AND s.position < $k
    WHERE e.request_id = 'rq-' || e.event_id
"""

#: Per arm: users, interactions, and the mean and sample deviation over users of each user's
#: hit rate and NDCG, from a relation ``outcomes(user_id, arm, position)``.
PER_ARM_SQL = """
    WITH per_user AS (
        SELECT arm, user_id, count(*) AS n_interactions,
               avg(CASE WHEN position IS NULL THEN 0.0 ELSE 1.0 END) AS hit_rate,
               avg(CASE WHEN position IS NULL THEN 0.0 ELSE 1.0 / log2(position + 2) END)
                   AS ndcg
        FROM outcomes
        GROUP BY arm, user_id
    )
    SELECT arm, count(*) AS n_users, sum(n_interactions) AS n_interactions,
           avg(hit_rate), coalesce(stddev_samp(hit_rate), 0.0),
           avg(ndcg), coalesce(stddev_samp(ndcg), 0.0)
    FROM per_user
    GROUP BY arm
    ORDER BY arm
"""


@dataclass(frozen=True)
class ArmReplayMetrics:
    """One arm's replay quality: mean over users of per-user hit rate and NDCG, with intervals.

    Attributes
    ----------
    hit_rate, ndcg
        Means over users of each user's hit rate and mean discounted gain.
    hit_rate_interval, ndcg_interval
        95 % Student-t intervals of those means, users as units.
    """

    arm: str
    n_users: int
    n_interactions: int
    hit_rate: float
    hit_rate_interval: tuple[float, float]
    ndcg: float
    ndcg_interval: tuple[float, float]


def replay_metrics(con: duckdb.DuckDBPyConnection, k: int = 10) -> list[ArmReplayMetrics]:
    """Per-arm metrics of the replayed interactions in an event log opened by
    :func:`analysis.views.connect`."""
    outcomes = con.execute(LOGGED_OUTCOMES_SQL, {"k": k}).fetchall()
    return outcome_metrics(outcomes, k)


def outcome_metrics(
    outcomes: Iterable[tuple[str, str, int | None]], k: int = 10
) -> list[ArmReplayMetrics]:
    """Per-arm metrics of ``(user_id, arm, position)`` outcomes, e.g. from the offline runner.

    Positions at or beyond ``k`` count as misses.

    Examples
    --------
    >>> rows = [("ann", "A", 0), ("ann", "A", None), ("bob", "A", 1), ("bob", "A", 1)]
    >>> [metrics] = outcome_metrics(rows)
    >>> metrics.n_users, metrics.hit_rate, round(metrics.ndcg, 4)
    (2, 0.75, 0.5655)
    """
    users, arms, positions = [], [], []
    for user_id, arm, position in outcomes:
        users.append(user_id)
        arms.append(arm)
        positions.append(position if position is not None and position < k else None)
    table = pa.table(
        {
            "user_id": pa.array(users, pa.string()),
            "arm": pa.array(arms, pa.string()),
            "position": pa.array(positions, pa.int32()),
        }
    )
    return _per_arm(table)


def _per_arm(outcomes: pa.Table) -> list[ArmReplayMetrics]:
    con = duckdb.connect()
    con.register("outcomes", outcomes)
    rows = con.execute(PER_ARM_SQL).fetchall()
    return [
        ArmReplayMetrics(
            arm=arm,
            n_users=n_users,
            n_interactions=int(n_interactions),
            hit_rate=hit_mean,
            hit_rate_interval=_interval(hit_mean, hit_sd, n_users),
            ndcg=ndcg_mean,
            ndcg_interval=_interval(ndcg_mean, ndcg_sd, n_users),
        )
        for arm, n_users, n_interactions, hit_mean, hit_sd, ndcg_mean, ndcg_sd in rows
    ]


def _interval(mean: float, sd: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of a mean over ``n`` independent units; a point for ``n < 2``."""
    if n < 2:
        return (mean, mean)
    half_width = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return (float(mean - half_width), float(mean + half_width))


def render_replay_table(
    metrics: list[ArmReplayMetrics], console: Console, title: str = "replay", k: int = 10
) -> None:
    """Print one row per arm: users, interactions, hit-rate@k and NDCG@k with 95 % intervals."""
    table = Table(title=title)
    for column in (
        "arm",
        "users",
        "interactions",
        f"hit-rate@{k}",
        "95% CI",
        f"NDCG@{k}",
        "95% CI",
    ):
        table.add_column(column, justify="right")
    for arm in metrics:
        table.add_row(
            arm.arm,
            f"{arm.n_users:,}",
            f"{arm.n_interactions:,}",
            f"{arm.hit_rate:.4f}",
            _format_interval(arm.hit_rate_interval),
            f"{arm.ndcg:.4f}",
            _format_interval(arm.ndcg_interval),
        )
    console.print(table)


def _format_interval(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:.4f}, {interval[1]:.4f}]"
