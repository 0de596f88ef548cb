"""Reference vectors for the experiment statistics, checked against ``analysis.stats``.

The vectors live outside the repository, in ``../shared/stats-vectors/public.json`` (its README
defines every kind). They come from GrowthBook's engine and tests, R, statsmodels,
spotify-confidence and the SRM example in Kohavi, Tang & Xu (2020). Each vector is dispatched by
its ``kind``, never by its id, so a holdout file with other vectors of the same kinds runs
unchanged: point ``STREAMREC_STATS_VECTORS`` at it.

Comparison rule (the file's ``tolerance_rule``): a numeric value passes iff
``|actual - expected| <= max(abs, rel·|expected|)``; the strings ``"inf"``/``"-inf"`` must match
exactly; lists compare element by element; ``null`` means "not defined" and must come back as
None; keys absent from ``expected`` are not checked.

When the file is missing the tests skip, except under ``CI=true`` where they fail, so a CI
machine without the vectors cannot pass silently.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from analysis.stats import (
    CupedSums,
    EffectPrior,
    MeanSums,
    ProportionSums,
    RatioCupedSums,
    RatioSums,
    adjust_p_values,
    bernoulli_pair_variance,
    beta_probability_b_beats_a,
    compare_arms,
    confidence_sequence_test,
    fixed_horizon_test,
    msprt_always_valid_p,
    msprt_log_likelihood_ratio,
    normal_chance_to_win,
    optimal_mixing_variance,
    posterior_chance_to_win,
    srm_test,
    two_proportion_ztest,
    welch_ttest_from_sums,
    wilson_interval,
)

DEFAULT_VECTORS_PATH = (
    Path(__file__).resolve().parents[2].parent / "shared" / "stats-vectors" / "public.json"
)
VECTORS_PATH = Path(os.environ.get("STREAMREC_STATS_VECTORS", DEFAULT_VECTORS_PATH))

SUMS_BY_STATISTIC_TYPE = {
    "proportion": ProportionSums,
    "mean": MeanSums,
    "ratio": RatioSums,
    "mean_ra": CupedSums,
    "ratio_ra": RatioCupedSums,
}


def _load_vectors() -> list[dict[str, Any]] | None:
    """All vectors of the file, or None when the file is absent."""
    if not VECTORS_PATH.is_file():
        return None
    return json.loads(VECTORS_PATH.read_text())["vectors"]


def _require_vectors() -> list[dict[str, Any]]:
    """The vectors, skipping the test (failing it under CI=true) when the file is absent."""
    vectors = _load_vectors()
    if vectors is not None:
        return vectors
    reason = f"reference vectors not found at {VECTORS_PATH}; they live beside the repository"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _arm_sums(inputs: dict[str, Any]) -> tuple[Any, Any]:
    """The control and treatment sums of a GrowthBook-engine vector, typed by statistic_type."""
    sums_type = SUMS_BY_STATISTIC_TYPE[inputs["statistic_type"]]
    return sums_type(**inputs["a"]), sums_type(**inputs["b"])


def _is_two_sided(alternative: str | None) -> bool:
    return alternative is None or alternative.replace("_", "-") == "two-sided"


# One function per kind: inputs in, a dict of outputs named as in the vectors out.


def _wilson_ci(inputs: dict[str, Any]) -> dict[str, Any]:
    lower, upper = wilson_interval(inputs["x"], inputs["n"], confidence=inputs["confidence"])
    return {"lower": lower, "upper": upper}


def _two_proportion_ztest(inputs: dict[str, Any]) -> dict[str, Any]:
    assert _is_two_sided(inputs.get("alternative")), "only the two-sided z-test is defined"
    result = two_proportion_ztest(
        inputs["x_a"], inputs["n_a"], inputs["x_b"], inputs["n_b"], inputs["confidence"]
    )
    return vars(result)


def _p_adjust(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"adjusted": adjust_p_values(inputs["p_values"], inputs["method"]).tolist()}


def _srm_chisq(inputs: dict[str, Any]) -> dict[str, Any]:
    return vars(srm_test(inputs["counts"], inputs["weights"]))


def _welch_ttest_from_sums(inputs: dict[str, Any]) -> dict[str, Any]:
    assert _is_two_sided(inputs.get("alternative")), "the Welch test here is two-sided"
    result = welch_ttest_from_sums(
        MeanSums(**inputs["a"]),
        MeanSums(**inputs["b"]),
        confidence=inputs["confidence"],
        variance_ddof=inputs["variance_ddof"],
    )
    return vars(result)


def _effect_test(inputs: dict[str, Any]) -> dict[str, Any]:
    """gb_ttest, ratio_delta, cuped and sequential_cs: an effect, then its test."""
    a, b = _arm_sums(inputs)
    effect = compare_arms(a, b, inputs["difference_type"])

    test = inputs["test"]
    if test.startswith("sequential_"):
        result = confidence_sequence_test(
            effect,
            alpha=inputs["alpha"],
            tuning_parameter=inputs["sequential_tuning_parameter"],
            alternative=test.removeprefix("sequential_"),
        )
    else:
        result = fixed_horizon_test(effect, alpha=inputs["alpha"], alternative=test)
    return vars(result)


def _bayes_normal_ctw(inputs: dict[str, Any]) -> dict[str, Any]:
    if "post_mean" in inputs:
        result = posterior_chance_to_win(
            inputs["post_mean"],
            inputs["post_sd"],
            alpha=inputs.get("alpha", 0.05),
            inverse=inputs.get("inverse", False),
        )
        return vars(result)

    a, b = _arm_sums(inputs)
    effect = compare_arms(a, b, inputs["difference_type"])
    result = normal_chance_to_win(
        effect,
        alpha=inputs["alpha"],
        prior=EffectPrior(**inputs["prior"]),
        inverse=inputs["inverse"],
    )
    return vars(result)


def _bayes_beta_ctw(inputs: dict[str, Any]) -> dict[str, Any]:
    probability = beta_probability_b_beats_a(
        inputs["x_a"],
        inputs["n_a"],
        inputs["x_b"],
        inputs["n_b"],
        prior_alpha=inputs["prior_alpha"],
        prior_beta=inputs["prior_beta"],
    )
    return {"p_b_gt_a": probability}


def _msprt(inputs: dict[str, Any]) -> dict[str, Any]:
    if "looks" not in inputs:
        assert inputs["what"] == "optimal mixing variance tau2"
        tau2 = optimal_mixing_variance(
            inputs["alpha"], inputs["pair_variance"], inputs["truncation"]
        )
        return {"tau2": tau2}

    looks = inputs["looks"]
    n = [look["n"] for look in looks]
    mean_a = [look["mean_a"] for look in looks]
    mean_b = [look["mean_b"] for look in looks]
    if inputs["pair_variance"] == "plugin_bernoulli":
        pair_variance = bernoulli_pair_variance(mean_a, mean_b)
    else:
        pair_variance = inputs["pair_variance"]

    log_ratios = msprt_log_likelihood_ratio(
        n, mean_a, mean_b, pair_variance, inputs["tau2"], inputs["theta0"]
    )
    return {
        "likelihood_ratio": [math.exp(value) for value in log_ratios],
        "always_valid_p": msprt_always_valid_p(log_ratios).tolist(),
    }


KIND_HANDLERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "wilson_ci": _wilson_ci,
    "two_proportion_ztest": _two_proportion_ztest,
    "p_adjust": _p_adjust,
    "srm_chisq": _srm_chisq,
    "welch_ttest_from_sums": _welch_ttest_from_sums,
    "gb_ttest": _effect_test,
    "ratio_delta": _effect_test,
    "cuped": _effect_test,
    "sequential_cs": _effect_test,
    "bayes_normal_ctw": _bayes_normal_ctw,
    "bayes_beta_ctw": _bayes_beta_ctw,
    "msprt": _msprt,
}


def compute(vector: dict[str, Any]) -> dict[str, Any]:
    """Run the vector's inputs through the function its kind names."""
    handler = KIND_HANDLERS.get(vector["kind"])
    if handler is None:
        raise KeyError(f"no handler for kind {vector['kind']!r} (vector {vector['id']})")
    return handler(vector["inputs"])


def mismatches(actual: Any, expected: Any, tolerance: dict[str, float], path: str) -> list[str]:
    """Every place where ``actual`` breaks the file's comparison rule, as readable lines."""
    if expected is None:
        return [] if actual is None else [f"{path}: expected null (undefined), got {actual!r}"]
    if isinstance(expected, str):
        if expected not in ("inf", "-inf"):
            return [f"{path}: unknown expected string {expected!r}"]
        wanted = math.inf if expected == "inf" else -math.inf
        ok = actual is not None and float(actual) == wanted
        return [] if ok else [f"{path}: expected {expected}, got {actual!r}"]
    if isinstance(expected, list):
        if actual is None or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} values, got {actual!r}"]
        problems = []
        for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
            problems += mismatches(got, want, tolerance, f"{path}[{index}]")
        return problems

    if actual is None:
        return [f"{path}: expected {expected!r}, got None"]
    actual = float(actual)
    allowed = max(tolerance.get("abs", 0.0), tolerance.get("rel", 0.0) * abs(expected))
    if math.isfinite(actual) and abs(actual - expected) <= allowed:
        return []
    return [f"{path}: expected {expected!r}, got {actual!r} (allowed error {allowed:.3g})"]


def _vector_params() -> list[Any]:
    vectors = _load_vectors()
    if vectors is None:
        return [pytest.param(None, id="vectors-file-missing")]
    return [pytest.param(vector, id=vector["id"]) for vector in vectors]


@pytest.mark.parametrize("vector", _vector_params())
def test_vector(vector: dict[str, Any] | None) -> None:
    """Each reference vector's outputs agree with ours within its stated tolerance."""
    if vector is None:
        _require_vectors()
        return

    actual = compute(vector)

    problems = []
    for key, expected in vector["expected"].items():
        if key not in actual:
            problems.append(f"{key}: expected {expected!r}, but no output of that name")
            continue
        problems += mismatches(actual[key], expected, vector["tolerance"], key)
    assert not problems, f"vector {vector['id']} ({vector['kind']}):\n" + "\n".join(problems)


def test_every_kind_is_handled_and_every_vector_runs() -> None:
    """No kind in the file lacks a handler, and every vector of every kind produces outputs.

    The per-kind counts are printed (``pytest -s``) so a report shows what was covered.
    """
    vectors = _require_vectors()

    unhandled = sorted({vector["kind"] for vector in vectors} - set(KIND_HANDLERS))
    assert not unhandled, f"kinds without a handler: {unhandled}"

    in_file = Counter(vector["kind"] for vector in vectors)
    produced = Counter()
    for vector in vectors:
        outputs = compute(vector)
        if set(vector["expected"]) <= set(outputs):
            produced[vector["kind"]] += 1

    print("\nreference vectors per kind (run / in file):")
    for kind in sorted(in_file):
        print(f"  {kind:24s} {produced[kind]:3d} / {in_file[kind]}")
    assert produced == in_file


@pytest.mark.parametrize(
    ("actual", "expected", "passes"),
    [
        (1.0 + 1e-9, 1.0, True),
        (1.0 + 1e-7, 1.0, False),
        (None, None, True),
        (0.0, None, False),
        (math.inf, "inf", True),
        (-math.inf, "inf", False),
        (1e300, "inf", False),
        ([1.0, -math.inf], [1.0, "-inf"], True),
        ([1.0, 2.0], [1.0, 2.5], False),
        ([1.0], [1.0, 2.0], False),
        (math.nan, 1.0, False),
    ],
)
def test_comparison_rule(actual: Any, expected: Any, passes: bool) -> None:
    """The comparator itself: rel/abs tolerance, infinities, nulls, lists, NaN."""
    problems = mismatches(actual, expected, {"rel": 1e-8, "abs": 1e-12}, "value")
    assert (not problems) is passes, problems
