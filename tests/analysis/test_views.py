"""The event-log views and the arm table on a tiny hand-made experiment with known answers.

The log is written with the sink's own writer, duplicates included (a re-sent click, a slate and
a reference written twice), so the numbers below also check the deduplication. Every interval is
recomputed here from per-user values with numpy and scipy, not from the SQL sums.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from analysis.report import arm_table, run_sql
from analysis.views import LOG_COLUMNS, connect
from stream.assignment import Experiment
from stream.events import Interaction, Recommendation, Reference, SlateItem
from stream.sink import EventLogWriter
from stream.topics import Topics
from tests.stream.test_sink import EXAMPLES

T0 = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
EXPERIMENT = Experiment(salt="tiny", arms=("A", "B"))

# Per user of the tiny experiment: arm, served requests, slate impressions, slate clicks,
# purchases as (price, quantity). Clicks, impressions and purchases are the known answers.
USERS = {
    "a1": ("A", ["r1", "r2"], 4, 2, [(10.0, 2)]),
    "a2": ("A", ["r3"], 2, 0, []),
    "a3": ("A", ["r4"], 3, 1, [(5.0, 1)]),
    "b1": ("B", ["r5"], 5, 3, [(7.5, 2)]),
    "b2": ("B", ["r6", "r7"], 1, 0, []),
}

# Per user: sampled references as (served, random, oracle).
REFERENCES = {
    "a1": [("r1", 0.5, 0.1, 0.9), ("r2", 0.3, 0.1, 0.5)],
    "a2": [("r3", 0.2, 0.2, 0.6)],
    "b1": [("r5", 0.8, 0.2, 0.8)],
}


class _Log:
    """Writes models with increasing offsets, as the sink would."""

    def __init__(self, writer: EventLogWriter) -> None:
        self.writer = writer
        self.offsets: dict[str, int] = {}

    def add(self, topic: str, model: object, offset: int | None = None) -> None:
        if offset is None:
            offset = self.offsets.get(topic, 0)
            self.offsets[topic] = offset + 1
        self.writer.add(topic, model, partition=0, offset=offset)


def _event(event_id: str, kind: str, user_id: str, **fields: object) -> Interaction:
    return Interaction(
        event_id=event_id,
        event_type=kind,
        event_at=T0,
        user_id=user_id,
        item_id="i1",
        session_id=f"s-{user_id}",
        **fields,
    )


def _write_experiment(log_dir: Path) -> None:
    log = _Log(EventLogWriter(log_dir))
    counter = iter(range(1_000))

    for user_id, (arm, requests, impressions, clicks, purchases) in USERS.items():
        for request_id in requests:
            slate = [SlateItem(item_id="i1", position=0, score=1.0, source="popularity")]
            log.add(
                "recommendations",
                Recommendation(
                    request_id=request_id,
                    user_id=user_id,
                    session_id=f"s-{user_id}",
                    arm=arm,
                    model_version="v1",
                    slate=slate,
                    requested_at=T0,
                    served_at=T0 + timedelta(milliseconds=5),
                ),
            )

        slate_fields = {"request_id": requests[0], "arm": arm, "position": 0}
        for _ in range(impressions):
            log.add("events", _event(f"e{next(counter)}", "impression", user_id, **slate_fields))
        for _ in range(clicks):
            log.add("events", _event(f"e{next(counter)}", "click", user_id, **slate_fields))
        for price, quantity in purchases:
            purchase = _event(
                f"e{next(counter)}", "purchase", user_id, price=price, quantity=quantity
            )
            log.add("events", purchase)
            log.add("events", _event(f"e{next(counter)}", "add_to_cart", user_id))

    for user_id, rows in REFERENCES.items():
        for request_id, served, random, oracle in rows:
            reference = Reference(
                request_id=request_id,
                user_id=user_id,
                arm=USERS[user_id][0],
                served_value=served,
                random_value=random,
                oracle_value=oracle,
                computed_at=T0,
            )
            log.add("references", reference)

    # Duplicates: a click sent twice by the producer (new offset), and a slate and a
    # reference written twice by the sink (same offset, second file). a1's first click is e4,
    # after its impressions e0 to e3.
    log.add("events", _event("e4", "click", "a1", request_id="r1", arm="A", position=0))
    # An organic click of a3: no slate, so it is not in the CTR.
    log.add("events", _event("organic-1", "click", "a3"))
    log.writer.flush_all()

    log.add("recommendations", _recommendation_again("r7", "b2", "B"), offset=6)
    log.add("references", _reference_again(), offset=3)
    log.writer.flush_all()


def _recommendation_again(request_id: str, user_id: str, arm: str) -> Recommendation:
    return Recommendation(
        request_id=request_id,
        user_id=user_id,
        session_id=f"s-{user_id}",
        arm=arm,
        model_version="v1",
        slate=[SlateItem(item_id="i1", position=0, score=1.0, source="popularity")],
        requested_at=T0,
        served_at=T0 + timedelta(milliseconds=5),
    )


def _reference_again() -> Reference:
    request_id, served, random, oracle = REFERENCES["b1"][0]
    return Reference(
        request_id=request_id,
        user_id="b1",
        arm="B",
        served_value=served,
        random_value=random,
        oracle_value=oracle,
        computed_at=T0,
    )


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log")
    _write_experiment(path)
    return path


@pytest.fixture(scope="module")
def rows(log_dir: Path) -> dict[str, dict[str, object]]:
    return {row["arm"]: row for row in arm_table(connect(log_dir), EXPERIMENT)}


def _count(log_dir: Path, sql: str) -> int:
    return connect(log_dir).execute(sql).fetchone()[0]


def test_views_remove_duplicates_by_message_id(log_dir: Path) -> None:
    assert _count(log_dir, "SELECT count(*) FROM raw_events") == 29
    assert _count(log_dir, "SELECT count(*) FROM events") == 28
    assert _count(log_dir, "SELECT count(*) FROM raw_recommendations") == 8
    assert _count(log_dir, "SELECT count(*) FROM recommendations") == 7
    assert _count(log_dir, "SELECT count(*) FROM slate_items") == 7
    assert _count(log_dir, 'SELECT count(*) FROM "references"') == 4


def test_events_carry_revenue_and_user_arm_lists_each_user_once(log_dir: Path) -> None:
    assert _count(log_dir, "SELECT sum(revenue) FROM events") == 20 + 5 + 15
    pairs = connect(log_dir).execute("SELECT user_id, arm FROM user_arm ORDER BY 1").fetchall()
    assert pairs == [(user_id, spec[0]) for user_id, spec in USERS.items()]


def test_slate_items_unnest_the_slate(log_dir: Path) -> None:
    row = connect(log_dir).execute("SELECT * FROM slate_items WHERE request_id = 'r1'").fetchone()
    columns = [
        "request_id",
        "user_id",
        "arm",
        "served_at",
        "item_id",
        "position",
        "score",
        "source",
        "source_probability",
    ]
    as_dict = dict(zip(columns, row, strict=True))
    assert (as_dict["user_id"], as_dict["arm"], as_dict["item_id"]) == ("a1", "A", "i1")
    assert (as_dict["position"], as_dict["source_probability"]) == (0, 1.0)


def test_counts_per_arm(rows: dict[str, dict[str, object]]) -> None:
    a, b = rows["A"], rows["B"]
    assert (a["users"], a["requests"], a["impressions"], a["clicks"]) == (3, 4, 9, 3)
    assert (a["add_to_carts"], a["purchases"], a["purchasers"], a["revenue"]) == (2, 2, 2, 25)
    assert (b["users"], b["requests"], b["impressions"], b["clicks"]) == (2, 3, 6, 3)
    assert (b["purchases"], b["purchasers"], b["revenue"]) == (1, 1, 15)
    assert (a["observed_share"], a["expected_share"]) == (0.6, 0.5)


def _per_user(arm: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clicks, impressions and revenue per user of ``arm``, from the table at the top."""
    users = [spec for spec in USERS.values() if spec[0] == arm]
    clicks = np.array([spec[3] for spec in users], dtype=float)
    impressions = np.array([spec[2] for spec in users], dtype=float)
    revenue = np.array([sum(p * q for p, q in spec[4]) for spec in users], dtype=float)
    return clicks, impressions, revenue


def _delta_interval(m: np.ndarray, d: np.ndarray) -> tuple[float, float, float]:
    n = len(m)
    cov = np.cov(m, d, ddof=1)
    mu_m, mu_d = m.mean(), d.mean()
    v = cov[0, 0] / mu_d**2 + cov[1, 1] * mu_m**2 / mu_d**4 - 2 * cov[0, 1] * mu_m / mu_d**3
    half = stats.norm.ppf(0.975) * math.sqrt(v / n)
    ratio = m.sum() / d.sum()
    return ratio, ratio - half, ratio + half


@pytest.mark.parametrize("arm", ["A", "B"])
def test_ctr_has_a_delta_method_interval_over_users(
    rows: dict[str, dict[str, object]], arm: str
) -> None:
    clicks, impressions, _ = _per_user(arm)
    expected = _delta_interval(clicks, impressions)

    row = rows[arm]
    assert row["ctr"] == pytest.approx({"A": 1 / 3, "B": 1 / 2}[arm], rel=1e-12)
    assert (row["ctr"], row["ctr_low"], row["ctr_high"]) == pytest.approx(expected, rel=1e-9)


def test_conversion_has_a_wilson_interval(rows: dict[str, dict[str, object]]) -> None:
    # Wilson by hand for 2 purchasers of 3 users.
    z, n, p = stats.norm.ppf(0.975), 3, 2 / 3
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)

    a = rows["A"]
    assert a["conversion"] == pytest.approx(2 / 3, rel=1e-12)
    assert (a["conversion_low"], a["conversion_high"]) == pytest.approx(
        (center - half, center + half), rel=1e-9
    )


@pytest.mark.parametrize("arm", ["A", "B"])
def test_revenue_per_user_has_a_t_interval(rows: dict[str, dict[str, object]], arm: str) -> None:
    _, _, revenue = _per_user(arm)
    low, high = stats.t.interval(0.95, len(revenue) - 1, revenue.mean(), stats.sem(revenue))

    row = rows[arm]
    assert row["revenue_per_user"] == pytest.approx(revenue.mean(), rel=1e-12)
    assert (row["revenue_per_user_low"], row["revenue_per_user_high"]) == pytest.approx(
        (low, high), rel=1e-9
    )


def test_lift_captured_places_each_arm_between_random_and_oracle(
    rows: dict[str, dict[str, object]],
) -> None:
    a, b = rows["A"], rows["B"]
    assert a["n_references"] == 3 and b["n_references"] == 1
    assert a["mean_served_value"] == pytest.approx(1.0 / 3)
    assert a["mean_random_value"] == pytest.approx(0.4 / 3)
    assert a["mean_oracle_value"] == pytest.approx(2.0 / 3)
    assert a["lift_captured"] == pytest.approx((1.0 - 0.4) / (2.0 - 0.4), rel=1e-12)
    assert b["lift_captured"] == pytest.approx(1.0, rel=1e-12)

    # Users are the units: a1 (two references) and a2 give gain and headroom per user.
    gain, headroom = np.array([0.6, 0.0]), np.array([1.2, 0.4])
    _, low, high = _delta_interval(gain, headroom)
    assert (a["lift_captured_low"], a["lift_captured_high"]) == pytest.approx((low, high))
    # One user in arm B: a point estimate, no interval.
    assert math.isnan(b["lift_captured_low"])


def test_srm_compares_users_per_arm_with_the_intended_shares(
    rows: dict[str, dict[str, object]],
) -> None:
    chi2 = (3 - 2.5) ** 2 / 2.5 + (2 - 2.5) ** 2 / 2.5
    assert rows["A"]["srm_chi2"] == pytest.approx(chi2)
    assert rows["A"]["srm_p_value"] == pytest.approx(stats.chi2.sf(chi2, 1))
    assert rows["A"]["srm_mismatch"] is False


def test_empty_log_gives_empty_views_and_an_empty_table(tmp_path: Path) -> None:
    con = connect(tmp_path)
    for view in ("events", "recommendations", "slate_items", "dead_letters", "user_arm"):
        assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)

    rows = arm_table(con, EXPERIMENT)
    assert [row["users"] for row in rows] == [0, 0]
    assert math.isnan(rows[0]["ctr"]) and rows[0]["srm_chi2"] is None


def test_empty_views_have_the_columns_of_written_files(log_dir: Path, tmp_path: Path) -> None:
    # Every role written once, so each empty view can be compared with a view over files.
    writer = EventLogWriter(tmp_path)
    for role, model in EXAMPLES.items():
        writer.add(getattr(Topics(), role), model, partition=0, offset=0)
    writer.flush_all()

    with_files = connect(tmp_path)
    empty = connect(tmp_path / "nothing-here")
    for role in LOG_COLUMNS:
        described = with_files.execute(f"DESCRIBE raw_{role}").fetchall()
        assert [row[:2] for row in described] == [
            row[:2] for row in empty.execute(f"DESCRIBE raw_{role}").fetchall()
        ], role


def test_run_sql_returns_columns_and_rows(log_dir: Path) -> None:
    columns, result = run_sql(
        log_dir, "SELECT arm, count(*) AS users FROM user_arm GROUP BY arm ORDER BY arm"
    )
    assert columns == ["arm", "users"]
    assert result == [("A", 3), ("B", 2)]


def test_renamed_topics_are_read_from_their_own_directories(tmp_path: Path) -> None:
    topics = Topics(events="x-events")
    writer = EventLogWriter(tmp_path, topics)
    writer.add("x-events", _event("e1", "click", "u1", arm="A"), partition=0, offset=0)
    writer.flush_all()

    assert connect(tmp_path, topics).execute("SELECT count(*) FROM user_arm").fetchone() == (1,)
    assert connect(tmp_path).execute("SELECT count(*) FROM user_arm").fetchone() == (0,)
