"""The terminal report of an experiment: several narrow rich tables, SRM verdict first.

:func:`print_report` is the entry point. It prints, in order: the SRM verdict; volumes per
arm; rates per arm with intervals; lift captured against the random and oracle slates; each
treatment arm against the control, one table per metric, with fixed-horizon and sequential
intervals and p-values; CUPED on revenue per user; and each arm's probability of being best.
The tables are laid out for a 100-column terminal. When the SRM check fails, the verdict is a
red panel, before the tables and again after them, and every table title says the numbers are
untrustworthy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import duckdb
from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from analysis.arm_effect import ArmEffect, Interval
from analysis.compare import METRICS, ExperimentComparison, compare_experiment
from analysis.cuped_revenue import CupedResult
from analysis.report import arm_table
from stream.assignment import Experiment

logger = logging.getLogger(__name__)

UNTRUSTWORTHY = "[bold white on red] UNTRUSTWORTHY: SAMPLE RATIO MISMATCH [/]"
UNTRUSTWORTHY_STRAYS = "[bold white on red] UNTRUSTWORTHY: USERS IN ARMS WITHOUT A SHARE [/]"

Formatter = Callable[[float], str]


def print_report(
    con: duckdb.DuckDBPyConnection, experiment: Experiment, console: Console | None = None
) -> ExperimentComparison:
    """Print the whole arm comparison of ``experiment`` from the event-log views of ``con``.

    Parameters
    ----------
    con
        A connection from :func:`analysis.views.connect`.
    experiment
        Arms (the first is the control), intended weights and salt.
    console
        Where to print; a new :class:`rich.console.Console` by default.

    Returns
    -------
    The comparison behind the tables, for callers that want the numbers too.
    """
    console = console or Console()
    rows = arm_table(con, experiment)
    comparison = compare_experiment(con, experiment)
    if not rows or sum(comparison.users.values()) == 0:
        console.print("No arms to report: the event log has no users.")
        return comparison

    marker = "" if comparison.trustworthy else f"{_untrustworthy(comparison)}\n"
    console.print(srm_verdict(comparison))
    for table in (
        volumes_table(rows, marker),
        rates_table(rows, marker),
        lift_captured_table(rows, marker),
        *(effects_table(comparison, metric, marker) for metric in METRICS),
    ):
        console.print(table)

    console.print(cuped_table(comparison.cuped, comparison, marker))
    console.print(probability_best_table(comparison, marker))
    console.print(_method_notes(comparison))
    if not comparison.trustworthy:
        console.print(srm_verdict(comparison))
    return comparison


def _untrustworthy(comparison: ExperimentComparison) -> str:
    """The marker every table carries when its numbers cannot be trusted, naming the cause."""
    return UNTRUSTWORTHY_STRAYS if comparison.stray_users else UNTRUSTWORTHY


def srm_verdict(comparison: ExperimentComparison) -> Panel | str:
    """One line when the split is as intended; a red panel when the SRM check fails."""
    srm = comparison.srm
    if comparison.stray_users:
        strays = ", ".join(f"{arm}: {n:,}" for arm, n in comparison.stray_users.items())
        return Panel(
            f"[bold]USERS IN ARMS WITHOUT AN INTENDED SHARE[/bold] ({strays}).\n"
            "The experiment gives these arms no users, yet the log has some: assignment, "
            "configuration or logging is broken. EVERY NUMBER BELOW IS UNTRUSTWORTHY.",
            title="SRM",
            style="bold white on red",
        )
    if srm.chi2 is None:
        return "SRM check skipped: fewer than two arms with users."

    detail = f"χ² = {srm.chi2:.2f}, df = {srm.df}, p = {srm.p_value:.2g}"
    if comparison.trustworthy:
        return f"[green]SRM check passed[/green] ({detail}; fails below p = 0.001)."
    return Panel(
        f"[bold]SAMPLE RATIO MISMATCH[/bold] ({detail} < 0.001).\n"
        "Users are not split across arms as the experiment intends: assignment or logging is "
        "broken. EVERY NUMBER BELOW IS UNTRUSTWORTHY; find the cause before reading any effect.",
        title="SRM",
        style="bold white on red",
    )


def _table(title: str, marker: str) -> Table:
    """A narrow table: no vertical rules, one space of padding, left-aligned title."""
    return Table(
        title=f"{marker}[bold]{title}[/bold]",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )


def volumes_table(rows: list[dict[str, object]], marker: str = "") -> Table:
    """Users, their share against the intended one, and event counts per arm."""
    table = _table("Volumes per arm", marker)
    table.add_column("arm")
    for header in ("users", "share", "intended", "requests", "impr.", "clicks", "carts"):
        table.add_column(header, justify="right")
    for header in ("purchases", "buyers", "revenue"):
        table.add_column(header, justify="right")

    for row in rows:
        table.add_row(
            str(row["arm"]),
            f"{row['users']:,}",
            _percent(row["observed_share"], 1),
            _percent(row["expected_share"], 1),
            f"{row['requests']:,}",
            f"{row['impressions']:,.0f}",
            f"{row['clicks']:,.0f}",
            f"{row['add_to_carts']:,.0f}",
            f"{row['purchases']:,.0f}",
            f"{row['purchasers']:,}",
            f"{row['revenue']:,.0f}",
        )
    return table


def rates_table(rows: list[dict[str, object]], marker: str = "") -> Group:
    """CTR, conversion and revenue per user of each arm, with 95% intervals."""
    table = _table("Rates per arm [95% interval]", marker)
    table.add_column("arm")
    for header in ("CTR", "conversion", "revenue / user"):
        table.add_column(header, justify="right")

    for row in rows:
        table.add_row(
            str(row["arm"]),
            _row_interval(row, "ctr", _percent_of(3)),
            _row_interval(row, "conversion", _percent_of(2)),
            _row_interval(row, "revenue_per_user", _money),
        )
    return _with_note(
        table,
        "CTR: slate clicks / slate impressions, delta method with users as units; conversion: "
        "purchasers / users, Wilson; revenue per user: t interval.",
    )


def lift_captured_table(rows: list[dict[str, object]], marker: str = "") -> Group:
    """Mean served, random and oracle slate values and lift captured per arm."""
    table = _table("Lift captured = (served - random) / (oracle - random)", marker)
    table.add_column("arm")
    for header in ("references", "served", "random", "oracle", "lift captured"):
        table.add_column(header, justify="right")

    for row in rows:
        table.add_row(
            str(row["arm"]),
            f"{row['n_references']:,}",
            _number(row["mean_served_value"], 3),
            _number(row["mean_random_value"], 3),
            _number(row["mean_oracle_value"], 3),
            _row_interval(row, "lift_captured", _percent_of(1)),
        )
    return _with_note(
        table,
        "Mean slate values of the simulator's sampled references: 0% is a random slate, 100% "
        "the oracle's; 95% delta-method interval with users as units.",
    )


# Header and format of each metric's absolute differences. Units go in the header and
# thousands separators are left out, so two intervals fit side by side in 100 columns.
_DIFFERENCE_FORMAT: dict[str, tuple[str, Formatter]] = {
    "conversion": ("abs. (pp)", lambda v: _points(v, 2)),
    "ctr": ("abs. (pp)", lambda v: _points(v, 3)),
    "revenue_per_user": ("abs.", lambda v: _signed(v, 2)),
    "revenue_per_user_cuped": ("abs.", lambda v: _signed(v, 2)),
}


def effects_table(comparison: ExperimentComparison, metric: str, marker: str = "") -> Group:
    """Each treatment arm against the control on one metric, two rows per arm.

    The ``fixed`` row has the fixed-horizon intervals and p-values, the ``seq.`` row the
    confidence-sequence ones for the same effects.
    """
    effects = comparison.effects[metric]
    title = f"{METRICS[metric]}: each arm vs {comparison.control}"
    test = effects[0].test if effects else ""
    return _effects_group(title, effects, metric, comparison, test, marker)


def _effects_group(
    title: str,
    effects: list[ArmEffect],
    metric: str,
    comparison: ExperimentComparison,
    test: str,
    marker: str,
) -> Group:
    difference_header, difference = _DIFFERENCE_FORMAT[metric]
    table = _table(title, marker)
    table.add_column("arm")
    table.add_column("", justify="left")
    for header in (difference_header, "95% CI", "rel. lift", "95% CI", "p", "Holm p"):
        table.add_column(header, justify="right")

    relative = _percent_of(1, signed=True)
    for effect in effects:
        table.add_row(
            effect.arm,
            "fixed",
            difference(effect.absolute.estimate),
            _interval(effect.absolute, difference),
            relative(effect.relative.estimate),
            _interval(effect.relative, relative),
            _p(effect.p_value),
            _p(effect.p_value_holm),
        )
        table.add_row(
            "",
            "seq.",
            "",
            _interval(effect.sequential_absolute, difference),
            "",
            _interval(effect.sequential_relative, relative),
            _p(effect.sequential_p_value),
            _p(effect.sequential_p_value_holm),
            end_section=True,
        )

    n = len(effects)
    return _with_note(
        table,
        f"fixed p: {test}, read once at a planned size. seq.: confidence sequence, valid at "
        f"every look (M = {comparison.sequential_tuning:,.0f}). Holm: family = the {n} arms vs "
        f"{comparison.control} on this metric, not across metrics.",
    )


def cuped_table(
    cuped: CupedResult, comparison: ExperimentComparison, marker: str = ""
) -> Group | str:
    """The CUPED covariate per arm and CUPED revenue per user against the control.

    When CUPED is unavailable, one line saying why.
    """
    if not cuped.available:
        return f"{marker}CUPED on revenue per user: unavailable, {cuped.reason}."

    covariates = _table("CUPED covariate per arm", marker)
    covariates.add_column("arm")
    for header in ("users with it", "mean", "θ", "variance cut"):
        covariates.add_column(header, justify="right")
    for arm in comparison.arms:
        covariates.add_row(
            arm,
            f"{cuped.users_with_covariate.get(arm, 0):,}",
            _number(cuped.covariate_means.get(arm), 3),
            _number(cuped.theta.get(arm), 2),
            _percent(cuped.variance_reduction.get(arm), 1),
        )
    covariates_note = (
        f"Covariate: {cuped.covariate}. No arm can change it (the user had seen no slate "
        "yet), so its means differ only by chance. θ is pooled over each pair with the control; "
        "variance cut is the share of the effect's variance that CUPED removes."
    )

    effects = _effects_group(
        f"CUPED revenue per user: each arm vs {comparison.control}",
        cuped.effects,
        "revenue_per_user_cuped",
        comparison,
        cuped.effects[0].test if cuped.effects else "",
        marker,
    )
    return Group(_with_note(covariates, covariates_note), effects)


def probability_best_table(comparison: ExperimentComparison, marker: str = "") -> Group:
    """Each arm's posterior probability of having the highest conversion, CTR and revenue."""
    table = _table("Probability of being the best arm", marker)
    table.add_column("arm")
    metrics = ("conversion", "ctr", "revenue_per_user")
    for metric in metrics:
        table.add_column(METRICS[metric].split(" (")[0], justify="right")

    best = comparison.probability_best
    for arm in comparison.arms:
        table.add_row(arm, *(_percent(best[metric][arm], 1) for metric in metrics))
    return _with_note(
        table,
        "Conversion: Beta(1 + buyers, 1 + non-buyers) posteriors; CTR and revenue per user: "
        f"N(mean, se²) posteriors. {comparison.posterior_draws:,} joint draws, seed "
        f"{comparison.posterior_seed}.",
    )


def _with_note(table: Table, note: str) -> Group:
    """A table followed by a dim note wrapped to the console's width, not the table's."""
    return Group(table, Text(note, style="dim"), Text(""))


def _method_notes(comparison: ExperimentComparison) -> str:
    return (
        "[dim]Differences are arm minus control; rel = (arm - control) / |control|. "
        f"Intervals cover {1 - comparison.alpha:.0%}; p-values are two-sided. Fixed-horizon p "
        "and CI hold for one look at a planned size; when watching the experiment as it runs, "
        "read the seq. columns.[/dim]"
    )


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: object, digits: int) -> str:
    return "–" if _is_missing(value) else f"{float(value):,.{digits}f}"  # type: ignore[arg-type]


def _signed(value: object, digits: int) -> str:
    return "–" if _is_missing(value) else f"{float(value):+.{digits}f}"  # type: ignore[arg-type]


def _percent(value: object, digits: int) -> str:
    if _is_missing(value):
        return "–"
    return f"{100 * float(value):.{digits}f}%"  # type: ignore[arg-type]


def _points(value: object, digits: int) -> str:
    """A difference of two rates in percentage points (the unit is in the header)."""
    if _is_missing(value):
        return "–"
    return f"{100 * float(value):+.{digits}f}"  # type: ignore[arg-type]


def _percent_of(digits: int, signed: bool = False) -> Formatter:
    sign = "+" if signed else ""
    return lambda v: "–" if _is_missing(v) else f"{100 * v:{sign}.{digits}f}%"


def _p(value: float) -> str:
    """A p-value: four decimals, or an upper bound when it is below 0.0001."""
    if _is_missing(value):
        return "–"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _interval(interval: Interval, formatter: Formatter) -> str:
    if _is_missing(interval.lower):
        return "–"
    return f"[{formatter(interval.lower)}, {formatter(interval.upper)}]"


def _row_interval(row: dict[str, object], name: str, formatter: Formatter) -> str:
    """``value [low, high]`` from an :func:`~analysis.report.arm_table` row."""
    keys = (name, f"{name}_low", f"{name}_high")
    value, low, high = (float(row[key]) for key in keys)  # type: ignore[arg-type]
    if math.isnan(value):
        return "–"
    text = formatter(value)
    if not math.isnan(low):
        text += f" [{formatter(low)}, {formatter(high)}]"
    return text


def _money(value: float) -> str:
    return _number(value, 2)
