"""The arm comparison and its report on a small three-arm experiment with known per-user values.

The log is written with the sink's own writer from a seeded table of users. Every comparison
number is recomputed here from the per-user arrays with numpy and scipy (Welch by
``scipy.stats.ttest_ind``, the z-test by a χ² test of the 2×2 table, Holm by a reference
written below), never from the SQL sums. A skewed set of intended weights checks that a
sample ratio mismatch marks every result untrustworthy, and the report is rendered at 100
columns to check nothing is cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from scipy import stats

from analysis.compare import SEQUENTIAL_TUNING, compare_experiment
from analysis.render import print_report
from analysis.views import connect
from stream.assignment import Experiment
from stream.events import Interaction, Recommendation, SlateItem
from stream.sink import EventLogWriter

SEED = 20260105
T0 = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
EXPERIMENT = Experiment(salt="compare", arms=("A", "B", "C"))
USERS_PER_ARM = {"A": 40, "B": 36, "C": 38}
ALPHA = 0.05


@dataclass(frozen=True)
class User:
    """What one user did; the known answers of every test below."""

    user_id: str
    arm: str
    impressions: int
    clicks: int
    purchases: tuple[float, ...]  # revenue of each purchase
    pre_exposure_events: int  # organic clicks before the first slate
    organic_purchase: float  # revenue of an organic purchase after the first slate, or 0


def _users() -> list[User]:
    """A seeded table of users; arm B converts and clicks more, arm C spends more."""
    rng = np.random.default_rng(SEED)
    users = []
    for arm, n_users in USERS_PER_ARM.items():
        click_rate = {"A": 0.2, "B": 0.35, "C": 0.2}[arm]
        buy_rate = {"A": 0.25, "B": 0.45, "C": 0.3}[arm]
        for i in range(n_users):
            impressions = int(rng.integers(1, 9))
            pre = int(rng.integers(0, 3))
            # Users active before their first slate buy more, so the covariate predicts revenue.
            n_purchases = int(rng.random() < buy_rate + 0.1 * pre) * int(rng.integers(1, 3))
            scale = 30.0 if arm == "C" else 20.0
            users.append(
                User(
                    user_id=f"{arm.lower()}{i:03d}",
                    arm=arm,
                    impressions=impressions,
                    clicks=int(rng.binomial(impressions, click_rate)),
                    purchases=tuple(
                        round(float(rng.gamma(2.0, scale)), 2) for _ in range(n_purchases)
                    ),
                    pre_exposure_events=pre,
                    organic_purchase=round(float(rng.gamma(2.0, 10.0)), 2)
                    if rng.random() < 0.1
                    else 0.0,
                )
            )
    return users


USERS = _users()


def _event(event_id: str, kind: str, user: User, at: datetime, **fields: object) -> Interaction:
    return Interaction(
        event_id=event_id,
        event_type=kind,
        event_at=at,
        user_id=user.user_id,
        item_id="i1",
        session_id=f"s-{user.user_id}",
        **fields,
    )


def _write(log_dir: Path, users: list[User]) -> None:
    """Each user: organic clicks, then one slate with its events, then maybe organic buying."""
    writer = EventLogWriter(log_dir)
    offsets = {"events": 0, "recommendations": 0}

    def add(topic: str, model: object) -> None:
        writer.add(topic, model, partition=0, offset=offsets[topic])
        offsets[topic] += 1

    served_at = T0 + timedelta(minutes=1)
    for user in users:
        for k in range(user.pre_exposure_events):
            add("events", _event(f"{user.user_id}-pre{k}", "click", user, T0))

        request_id = f"r-{user.user_id}"
        slate = [SlateItem(item_id="i1", position=0, score=1.0, source="popularity")]
        recommendation = Recommendation(
            request_id=request_id,
            user_id=user.user_id,
            session_id=f"s-{user.user_id}",
            arm=user.arm,
            model_version="v1",
            slate=slate,
            requested_at=served_at,
            served_at=served_at,
        )
        add("recommendations", recommendation)

        on_slate = {"request_id": request_id, "arm": user.arm, "position": 0}
        after = served_at + timedelta(seconds=5)
        for kind, count in (("impression", user.impressions), ("click", user.clicks)):
            for k in range(count):
                add("events", _event(f"{user.user_id}-{kind}{k}", kind, user, after, **on_slate))
        for k, revenue in enumerate(user.purchases):
            purchase = _event(
                f"{user.user_id}-buy{k}", "purchase", user, after, price=revenue, quantity=1
            )
            add("events", purchase)
        if user.organic_purchase:
            later = served_at + timedelta(minutes=5)
            organic = _event(
                f"{user.user_id}-organic",
                "purchase",
                user,
                later,
                price=user.organic_purchase,
                quantity=1,
            )
            add("events", organic)
    writer.flush_all()


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compare-log")
    _write(path, USERS)
    return path


@pytest.fixture(scope="module")
def comparison(log_dir: Path):
    return compare_experiment(connect(log_dir), EXPERIMENT)


def _arrays(arm: str) -> dict[str, np.ndarray]:
    """Per-user values of ``arm`` from the table at the top."""
    users = [user for user in USERS if user.arm == arm]
    revenue = np.array([sum(u.purchases) + u.organic_purchase for u in users])
    return {
        "clicks": np.array([u.clicks for u in users], dtype=float),
        "impressions": np.array([u.impressions for u in users], dtype=float),
        "purchaser": (revenue > 0).astype(float),
        "revenue": revenue,
        "pre": np.array([u.pre_exposure_events for u in users], dtype=float),
    }


def _holm_reference(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment, written out: sort, scale by m - rank, running max, cap."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, (len(p_values) - rank) * p_values[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def _welch_df(v_a: float, n_a: int, v_b: float, n_b: int) -> float:
    return (v_a / n_a + v_b / n_b) ** 2 / (
        (v_a / n_a) ** 2 / (n_a - 1) + (v_b / n_b) ** 2 / (n_b - 1)
    )


def _confidence_sequence(estimate: float, se: float, n_total: int) -> tuple[float, float, float]:
    """GrowthBook's two-sided asymptotic confidence sequence, from its published formula."""
    rho2 = (-2 * math.log(ALPHA) + math.log(-2 * math.log(ALPHA) + 1)) / SEQUENTIAL_TUNING
    spread = n_total * rho2 + 1
    half = math.sqrt(
        se**2 * n_total * 2 * spread / (n_total**2 * rho2) * math.log(math.sqrt(spread) / ALPHA)
    )
    p = min(
        1.0, math.sqrt(spread) * math.exp(-rho2 * n_total * (estimate / se) ** 2 / (2 * spread))
    )
    return estimate - half, estimate + half, p


def _effects(comparison, metric: str) -> dict[str, object]:
    return {effect.arm: effect for effect in comparison.effects[metric]}


def test_the_experiment_is_not_degenerate(comparison) -> None:
    # Every arm has buyers, non-buyers and users with and without pre-exposure activity.
    for arm in EXPERIMENT.arms:
        values = _arrays(arm)
        assert 0 < values["purchaser"].sum() < len(values["purchaser"]), arm
        assert 0 < (values["pre"] > 0).sum() < len(values["pre"]), arm
    assert comparison.users == USERS_PER_ARM
    assert comparison.trustworthy


@pytest.mark.parametrize("arm", ["B", "C"])
def test_revenue_per_user_is_welchs_t_test(comparison, arm: str) -> None:
    a, b = _arrays("A")["revenue"], _arrays(arm)["revenue"]
    welch = stats.ttest_ind(b, a, equal_var=False)
    low, high = welch.confidence_interval(1 - ALPHA)

    effect = _effects(comparison, "revenue_per_user")[arm]
    assert effect.absolute.estimate == pytest.approx(b.mean() - a.mean(), rel=1e-10)
    assert (effect.absolute.lower, effect.absolute.upper) == pytest.approx((low, high), rel=1e-9)
    assert effect.p_value == pytest.approx(welch.pvalue, rel=1e-9)

    # Relative lift by the delta method, with the arms independent.
    v_a, v_b = a.var(ddof=1), b.var(ddof=1)
    se = math.sqrt(v_b / (len(b) * a.mean() ** 2) + v_a * b.mean() ** 2 / (len(a) * a.mean() ** 4))
    t = stats.t.ppf(1 - ALPHA / 2, _welch_df(v_a, len(a), v_b, len(b)))
    lift = (b.mean() - a.mean()) / a.mean()
    assert effect.relative.estimate == pytest.approx(lift, rel=1e-10)
    assert (effect.relative.lower, effect.relative.upper) == pytest.approx(
        (lift - t * se, lift + t * se), rel=1e-9
    )


@pytest.mark.parametrize("arm", ["B", "C"])
def test_conversion_is_a_pooled_z_test_with_a_wald_interval(comparison, arm: str) -> None:
    a, b = _arrays("A")["purchaser"], _arrays(arm)["purchaser"]
    table = [[b.sum(), len(b) - b.sum()], [a.sum(), len(a) - a.sum()]]
    chi2_p = stats.chi2_contingency(table, correction=False).pvalue

    effect = _effects(comparison, "conversion")[arm]
    assert effect.p_value == pytest.approx(chi2_p, rel=1e-9)

    diff = b.mean() - a.mean()
    se = math.sqrt(a.mean() * (1 - a.mean()) / len(a) + b.mean() * (1 - b.mean()) / len(b))
    z = stats.norm.ppf(1 - ALPHA / 2)
    assert effect.absolute.estimate == pytest.approx(diff, rel=1e-10)
    assert (effect.absolute.lower, effect.absolute.upper) == pytest.approx(
        (diff - z * se, diff + z * se), rel=1e-9
    )
    assert (effect.control_value, effect.arm_value) == pytest.approx((a.mean(), b.mean()))


def _ratio_moments(m: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """Σm/Σd and the delta-method per-user variance of the ratio."""
    cov = np.cov(m, d, ddof=1)
    mu_m, mu_d = m.mean(), d.mean()
    v = cov[0, 0] / mu_d**2 + cov[1, 1] * mu_m**2 / mu_d**4 - 2 * cov[0, 1] * mu_m / mu_d**3
    return m.sum() / d.sum(), v


@pytest.mark.parametrize("arm", ["B", "C"])
def test_ctr_is_a_delta_method_ratio_over_users(comparison, arm: str) -> None:
    a, b = _arrays("A"), _arrays(arm)
    ctr_a, v_a = _ratio_moments(a["clicks"], a["impressions"])
    ctr_b, v_b = _ratio_moments(b["clicks"], b["impressions"])
    n_a, n_b = len(a["clicks"]), len(b["clicks"])

    se = math.sqrt(v_a / n_a + v_b / n_b)
    df = _welch_df(v_a, n_a, v_b, n_b)
    half = stats.t.ppf(1 - ALPHA / 2, df) * se

    effect = _effects(comparison, "ctr")[arm]
    assert effect.absolute.estimate == pytest.approx(ctr_b - ctr_a, rel=1e-10)
    assert (effect.absolute.lower, effect.absolute.upper) == pytest.approx(
        (ctr_b - ctr_a - half, ctr_b - ctr_a + half), rel=1e-9
    )
    assert effect.p_value == pytest.approx(2 * stats.t.sf(abs(ctr_b - ctr_a) / se, df), rel=1e-9)


@pytest.mark.parametrize("metric", ["conversion", "ctr", "revenue_per_user"])
def test_holm_runs_over_the_treatment_arms_of_each_metric(comparison, metric: str) -> None:
    effects = comparison.effects[metric]
    assert [effect.arm for effect in effects] == ["B", "C"]

    raw = [effect.p_value for effect in effects]
    holm = [effect.p_value_holm for effect in effects]
    assert holm == pytest.approx(_holm_reference(raw), rel=1e-12)

    raw = [effect.sequential_p_value for effect in effects]
    holm = [effect.sequential_p_value_holm for effect in effects]
    assert holm == pytest.approx(_holm_reference(raw), rel=1e-12)


@pytest.mark.parametrize("arm", ["B", "C"])
def test_revenue_has_a_confidence_sequence_wider_than_the_fixed_interval(
    comparison, arm: str
) -> None:
    a, b = _arrays("A")["revenue"], _arrays(arm)["revenue"]
    diff = b.mean() - a.mean()
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    low, high, p = _confidence_sequence(diff, se, len(a) + len(b))

    effect = _effects(comparison, "revenue_per_user")[arm]
    sequential = effect.sequential_absolute
    assert (sequential.lower, sequential.upper) == pytest.approx((low, high), rel=1e-9)
    assert effect.sequential_p_value == pytest.approx(p, rel=1e-9)
    assert sequential.lower < effect.absolute.lower and effect.absolute.upper < sequential.upper
    assert effect.sequential_p_value >= effect.p_value


@pytest.mark.parametrize("arm", ["B", "C"])
def test_cuped_uses_the_pre_exposure_events_as_covariate(comparison, arm: str) -> None:
    a, b = _arrays("A"), _arrays(arm)
    cuped = comparison.cuped
    assert cuped.available, cuped.reason
    assert cuped.covariate_means[arm] == pytest.approx(b["pre"].mean())
    assert cuped.users_with_covariate[arm] == int((b["pre"] > 0).sum())

    # θ: slope of revenue on the covariate over both arms pooled.
    x = np.concatenate([a["pre"], b["pre"]])
    y = np.concatenate([a["revenue"], b["revenue"]])
    theta = np.cov(x, y, ddof=1)[0, 1] / x.var(ddof=1)
    assert cuped.theta[arm] == pytest.approx(theta, rel=1e-9)

    adjusted_a = a["revenue"] - theta * a["pre"]
    adjusted_b = b["revenue"] - theta * b["pre"]
    diff = adjusted_b.mean() - adjusted_a.mean()
    se = math.sqrt(
        adjusted_a.var(ddof=1) / len(adjusted_a) + adjusted_b.var(ddof=1) / len(adjusted_b)
    )
    plain_se = math.sqrt(
        a["revenue"].var(ddof=1) / len(adjusted_a) + b["revenue"].var(ddof=1) / len(adjusted_b)
    )

    effect = {effect.arm: effect for effect in cuped.effects}[arm]
    assert effect.absolute.estimate == pytest.approx(diff, rel=1e-9)
    assert effect.absolute.upper - effect.absolute.estimate == pytest.approx(
        stats.t.ppf(
            1 - ALPHA / 2,
            _welch_df(
                adjusted_a.var(ddof=1), len(adjusted_a), adjusted_b.var(ddof=1), len(adjusted_b)
            ),
        )
        * se,
        rel=1e-9,
    )
    assert cuped.variance_reduction[arm] == pytest.approx(1 - se**2 / plain_se**2, rel=1e-9)


def test_probability_best_is_seeded_and_agrees_with_an_independent_simulation(
    comparison, log_dir: Path
) -> None:
    again = compare_experiment(connect(log_dir), EXPERIMENT)
    assert again.probability_best == comparison.probability_best

    # Beta posteriors of conversion, simulated here with another seed.
    rng = np.random.default_rng(SEED + 1)
    draws = np.column_stack(
        [
            rng.beta(1 + v.sum(), 1 + len(v) - v.sum(), size=200_000)
            for v in (_arrays(arm)["purchaser"] for arm in EXPERIMENT.arms)
        ]
    )
    expected = np.bincount(draws.argmax(axis=1), minlength=3) / len(draws)
    best = comparison.probability_best["conversion"]
    assert [best[arm] for arm in EXPERIMENT.arms] == pytest.approx(expected.tolist(), abs=0.01)

    # Normal posteriors of revenue per user.
    revenue = [_arrays(arm)["revenue"] for arm in EXPERIMENT.arms]
    draws = np.column_stack(
        [rng.normal(v.mean(), v.std(ddof=1) / math.sqrt(len(v)), 200_000) for v in revenue]
    )
    expected = np.bincount(draws.argmax(axis=1), minlength=3) / len(draws)
    best = comparison.probability_best["revenue_per_user"]
    assert [best[arm] for arm in EXPERIMENT.arms] == pytest.approx(expected.tolist(), abs=0.01)


SKEWED = Experiment(salt="compare", arms=("A", "B", "C"), weights=(8, 1, 1))


def test_sample_ratio_mismatch_marks_every_result_untrustworthy(log_dir: Path) -> None:
    comparison = compare_experiment(connect(log_dir), SKEWED)
    assert comparison.srm.p_value < 0.001
    assert not comparison.trustworthy

    effects = [effect for family in comparison.effects.values() for effect in family]
    effects += comparison.cuped.effects
    assert effects and not any(effect.trustworthy for effect in effects)


@pytest.mark.parametrize(
    "experiment",
    [
        Experiment(salt="compare", arms=("A", "B", "C"), weights=(0, 1, 1)),
        Experiment(salt="compare", arms=("A", "B")),
    ],
    ids=["arm-with-no-share", "arm-not-in-experiment"],
)
def test_users_in_an_arm_without_a_share_make_results_untrustworthy(
    log_dir: Path, experiment: Experiment
) -> None:
    comparison = compare_experiment(connect(log_dir), experiment)
    console = Console(width=100, record=True)
    print_report(connect(log_dir), experiment, console)

    stray = "A" if experiment.weights[0] == 0 else "C"
    assert comparison.stray_users == {stray: USERS_PER_ARM[stray]}
    assert not comparison.trustworthy
    assert "USERS IN ARMS WITHOUT AN INTENDED SHARE" in console.export_text().split("Volumes")[0]


def test_report_says_so_first_and_on_every_table_when_srm_fails(log_dir: Path) -> None:
    console = Console(width=100, record=True)
    print_report(connect(log_dir), SKEWED, console)
    text = console.export_text()

    assert text.lstrip().startswith("╭") and "SAMPLE RATIO MISMATCH" in text.split("Volumes")[0]
    # One marker per table: volumes, rates, lift, three metrics, CUPED covariate and effects,
    # probability best.
    assert text.count("UNTRUSTWORTHY: SAMPLE RATIO MISMATCH") >= 9


@pytest.mark.parametrize("experiment", [EXPERIMENT, SKEWED], ids=["healthy", "srm"])
def test_report_fits_100_columns_without_cutting_anything(
    log_dir: Path, experiment: Experiment
) -> None:
    console = Console(width=100, record=True)
    print_report(connect(log_dir), experiment, console)
    text = console.export_text()

    assert max(len(line) for line in text.splitlines()) <= 100
    assert "…" not in text
    for title in ("Volumes per arm", "Rates per arm", "Lift captured", "each arm vs A"):
        assert title in text
    assert "Probability of being the best arm" in text
    if experiment is EXPERIMENT:
        assert text.lstrip().startswith("SRM check passed")


def test_cuped_is_reported_unavailable_without_pre_exposure_activity(tmp_path: Path) -> None:
    users = [
        User(u.user_id, u.arm, u.impressions, u.clicks, u.purchases, 0, u.organic_purchase)
        for u in USERS
    ]
    _write(tmp_path, users)

    comparison = compare_experiment(connect(tmp_path), EXPERIMENT)
    assert not comparison.cuped.available
    assert "no user has organic activity" in comparison.cuped.reason

    console = Console(width=100, record=True)
    print_report(connect(tmp_path), EXPERIMENT, console)
    assert "CUPED on revenue per user: unavailable" in console.export_text()


def test_an_empty_log_prints_a_short_notice(tmp_path: Path) -> None:
    console = Console(width=100, record=True)
    comparison = print_report(connect(tmp_path), EXPERIMENT, console)
    assert "No arms to report" in console.export_text()
    assert comparison.users == {"A": 0, "B": 0, "C": 0}
