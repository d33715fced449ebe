"""The model gate: may the challenger replace the champion?

Inputs are per-request metrics (:func:`rankct.evaluation.metrics.per_request_metrics`) of both
models on the same held-out requests, so the comparison is paired. Checks:

- ``ndcg_floor``: the challenger's mean NDCG@k reaches ``gate.min_ndcg``;
- ``non_regression``: the upper end of the (1 - alpha) interval of the mean per-request change
  is at least ``-gate.max_regression`` (a drop is only held against the challenger once it is
  significant); optionally ``required_gain``: the lower end exceeds ``gate.min_gain``;
- ``churn``: 1 - mean top-k overlap with the champion's lists stays under ``gate.max_churn``;
- ``slice_floor[...]``: NDCG@k per configured slice (slices too small to judge are reported);
- ``logging_baseline``: the challenger against the production ranker's logged ranking on the
  same requests, both by position-debiased DCG@k (:mod:`rankct.evaluation.baseline`); its mean
  change relative to the logged ranking must reach ``-gate.baseline_margin``. It always runs, for the first model too: a model
  worse than what serves today must never replace it, champion or not;
- ``onnx_parity`` and ``data_gate_2``: the earlier verdicts, which must have passed.

Without a champion (the first model) the comparisons with a champion are recorded as not
applicable; the floors and the logged baseline judge it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from rankct.config import GateConfig
from rankct.errors import RankctError
from rankct.evaluation.baseline import LOGGED
from rankct.evaluation.comparison import Churn, paired_test
from rankct.evaluation.metrics import summarize
from rankct.gates.checks import Check, Verdict

if TYPE_CHECKING:  # the module imports xgboost and onnxruntime: not needed to read a report
    from rankct.evaluation.baseline import LoggedBaseline
    from rankct.export.parity import ParityReport

NOT_APPLICABLE = ("not applicable: no champion yet, the first model is judged on the floors and "
                  "the logged ranking")


def model_gate(challenger: pd.DataFrame, champion: pd.DataFrame | None, gate: GateConfig, *,
               data_gate: Verdict, churn: Churn | None = None,
               slices: pd.DataFrame | None = None, parity: ParityReport | None = None,
               baseline: LoggedBaseline | None = None) -> Verdict:
    """Judge the challenger; every check is in the verdict, with value, threshold and detail.

    ``baseline`` is the debiased comparison with the logged ranking; without it the
    ``logging_baseline`` check fails (it is mandatory).
    """
    column = f"ndcg@{gate.k}"
    for name, frame in (("challenger", challenger), ("champion", champion)):
        if frame is not None and column not in frame.columns:
            raise RankctError(f"model gate: the {name}'s per-request metrics lack {column!r}",
                              hint=f"compute per_request_metrics with k={gate.k} in ks")
    summary = {"challenger": summarize(challenger).as_dict()}
    mean = summary["challenger"][column]
    checks = [Check("ndcg_floor", mean, gate.min_ndcg, mean >= gate.min_ndcg,
                    f"mean {column} {mean:.4f} over {summary['challenger']['n_requests']:,} "
                    f"requests, floor {gate.min_ndcg:g}")]
    extra: dict[str, object] = {"gate": "model_gate", "metric": column}
    if champion is None:
        checks += [Check(name, None, None, True, NOT_APPLICABLE)
                   for name in ("non_regression", "churn")]
    else:
        summary["champion"] = summarize(champion).as_dict()
        checks += _comparison_checks(challenger, champion, churn, gate, column, extra)
    checks.append(_baseline_check(baseline, gate, column, extra))
    checks += _slice_checks(slices, gate, column)
    checks.append(_parity_check(parity, gate))
    checks.append(Check("data_gate_2", len(data_gate.reasons), 0, data_gate.passed,
                        "; ".join(data_gate.reasons) or "all data checks passed"))
    extra["metrics"] = summary
    extra["data_gate_2"] = data_gate.as_dict()
    return Verdict(checks, extra)


def _comparison_checks(challenger: pd.DataFrame, champion: pd.DataFrame, churn: Churn | None,
                       gate: GateConfig, column: str, extra: dict[str, object]) -> list[Check]:
    a, b = challenger[column].dropna(), champion[column].dropna()
    if not a.index.sort_values().equals(b.index.sort_values()):
        raise RankctError(f"model gate: challenger and champion were evaluated on different "
                          f"requests ({len(a)} vs {len(b)}, "
                          f"{len(a.index.symmetric_difference(b.index))} differ)",
                          hint="score both models on the same held-out frame")
    if churn is None:
        raise RankctError("model gate: a champion is given but no churn",
                          hint="compute ranking_churn(frame, 'challenger', 'champion')")
    test = paired_test(a, b, method=gate.test_method, n_resamples=gate.n_resamples,
                       seed=gate.seed, alpha=gate.alpha)
    extra["paired_test"], extra["churn"] = test.as_dict(), churn.as_dict()
    level = f"{1 - gate.alpha:.0%}"
    interval = f"{level} CI [{test.ci_low:+.4f}, {test.ci_high:+.4f}]"
    checks = [Check(
        "non_regression", test.effect, -gate.max_regression,
        test.ci_high >= -gate.max_regression,
        f"mean {column} change {test.effect:+.4f} ({interval}, p={test.p_value:.3g}, "
        f"{test.method}, {test.n_requests:,} requests); a significant drop beyond "
        f"{gate.max_regression:g} fails")]
    if gate.min_gain is not None:
        checks.append(Check("required_gain", test.ci_low, gate.min_gain,
                            test.ci_low > gate.min_gain,
                            f"lower end of the {level} interval {test.ci_low:+.4f} must exceed "
                            f"{gate.min_gain:g}"))
    value = 1.0 - churn.mean_top_k_overlap
    checks.append(Check("churn", value, gate.max_churn, value <= gate.max_churn,
                        f"{value:.1%} of the top-{churn.k} items differ on average, "
                        f"{churn.top1_changed_share:.1%} of requests change their first item; "
                        f"cap {gate.max_churn:.0%}"))
    return checks


def _baseline_check(baseline: LoggedBaseline | None, gate: GateConfig, column: str,
                    extra: dict[str, object]) -> Check:
    threshold = -gate.baseline_margin
    if baseline is None or not baseline.means["logged"] > 0:
        return Check("logging_baseline", None, threshold, False,
                     "no debiased evaluation against the logged ranking"
                     + (" was given" if baseline is None else " has a logged label")
                     + " (required)")
    relative = baseline.relative()
    test = paired_test(relative["model"], relative[LOGGED], method=gate.test_method,
                       n_resamples=gate.n_resamples, seed=gate.seed, alpha=gate.alpha)
    means, k = baseline.means, baseline.k
    extra["logging_baseline"] = {**test.as_dict(), f"ipw_dcg@{k}": means,
                                 "method": baseline.method, "clip": baseline.clip,
                                 "propensity": baseline.propensity}
    return Check(
        "logging_baseline", test.effect, threshold, test.effect >= threshold,
        f"debiased DCG@{k} {means['model']:.4f} against the logged ranking's "
        f"{means[LOGGED]:.4f}: relative change {test.effect:+.2%} ({1 - gate.alpha:.0%} CI "
        f"[{test.ci_low:+.2%}, {test.ci_high:+.2%}], p={test.p_value:.3g}, "
        f"{test.n_requests:,} requests; propensities by {baseline.method}, clip "
        f"{baseline.clip:g}); a challenger worse than the logged ranking by more than "
        f"{gate.baseline_margin:.0%} fails")


def _slice_checks(slices: pd.DataFrame | None, gate: GateConfig, column: str) -> list[Check]:
    if not gate.slice_floors:
        return []
    if slices is None or column not in slices.columns:
        return [Check("slice_floors", None, None, False,
                      f"slice floors are configured but no slice table with {column} was given")]
    checks, matched = [], set()
    for row in slices.to_dict("records"):
        key = f"{row['slice']}={row['value']}"
        floor_key = key if key in gate.slice_floors else str(row["slice"])
        if floor_key not in gate.slice_floors:
            continue
        matched.add(floor_key)
        floor, value, n = gate.slice_floors[floor_key], float(row[column]), int(row["n_requests"])
        if n < gate.min_slice_requests or math.isnan(value):
            checks.append(Check(f"slice_floor[{key}]", value, floor, True,
                                f"not judged: {n} scored requests (< {gate.min_slice_requests})"))
            continue
        checks.append(Check(f"slice_floor[{key}]", value, floor, value >= floor,
                            f"{column} {value:.4f} on {n:,} requests, floor {floor:g}"))
    for floor_key in sorted(set(gate.slice_floors) - matched):
        checks.append(Check(f"slice_floor[{floor_key}]", None, gate.slice_floors[floor_key],
                            False, "the slice table has no such slice"))
    return checks


def _parity_check(parity: ParityReport | None, gate: GateConfig) -> Check:
    if parity is None:
        return Check("onnx_parity", None, "report required" if gate.require_parity else None,
                     not gate.require_parity,
                     "no ONNX parity report" + (" (required)" if gate.require_parity
                                                else " (not required)"))
    detail = (f"max |onnx - native| {parity.max_abs_diff:.3g} on {parity.n_rows:,} rows, "
              f"{parity.order_mismatches} of {parity.n_requests} requests ordered differently")
    return Check("onnx_parity", parity.max_abs_diff, "within atol, same order", parity.passed,
                 "; ".join(parity.reasons) if parity.reasons else detail)
