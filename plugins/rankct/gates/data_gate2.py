"""Data gate 2: is the training set fit to train a challenger on?

- drift: the share of feature columns whose distribution moved against the champion's training
  set (Evidently's DataDriftPreset) stays under ``gate.max_drift_share``; with no champion yet
  there is nothing to compare and the check passes, saying so;
- label rate: the share of impressions with a grade above 0 lies in
  [``gate.label_rate_low``, ``gate.label_rate_high``]; outside it the labels are broken (an
  event feed lost, attribution changed) rather than the market.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rankct.config import GateConfig
from rankct.errors import RankctError
from rankct.gates.checks import Check, Verdict
from rankct.io import write_json_atomic
from rankct.reports.drift import feature_drift_report


def label_rate_check(frame: pd.DataFrame, gate: GateConfig, label: str = "grade") -> Check:
    """Share of rows with ``label`` > 0 against the configured band."""
    if label not in frame.columns or frame.empty:
        raise RankctError(f"data gate 2: the training set has no rows or no {label!r} column")
    rate = float((frame[label].fillna(0) > 0).mean())
    band = f"[{gate.label_rate_low:g}, {gate.label_rate_high:g}]"
    passed = gate.label_rate_low <= rate <= gate.label_rate_high
    detail = (f"{rate:.2%} of {len(frame):,} impressions have {label} > 0, "
              f"{'inside' if passed else 'outside'} the band {band}")
    return Check("label_rate", rate, band, passed, detail)


def data_gate2(train: pd.DataFrame, reference: pd.DataFrame | None, feature_names: list[str],
               gate: GateConfig, out_dir: Path | str, *, label: str = "grade",
               facts: dict[str, str] | None = None) -> Verdict:
    """Run data gate 2 on ``train`` against the champion's training sample ``reference``.

    Writes ``result.json`` (and the drift report, when there is a reference) into ``out_dir``.
    """
    out_dir = Path(out_dir)
    checks = [label_rate_check(train, gate, label)]
    extra: dict[str, object] = {"gate": "data_gate_2", "rows": len(train)}
    if reference is None:
        checks.append(Check("feature_drift", None, gate.max_drift_share, True,
                            "no champion training set to compare with (first model)"))
    else:
        drift = feature_drift_report(reference, train, feature_names, out_dir,
                                     drift_share=gate.max_drift_share,
                                     sample_rows=gate.drift_sample_rows, facts=facts)
        passed = drift.share < gate.max_drift_share
        listed = ", ".join(drift.drifted_columns[:10]) + (
            ", ..." if len(drift.drifted_columns) > 10 else "")
        checks.append(Check(
            "feature_drift", drift.share, gate.max_drift_share, passed,
            f"{len(drift.drifted_columns)} of {drift.n_columns} feature columns drifted "
            f"({drift.share:.0%}; limit {gate.max_drift_share:.0%})"
            + (f": {listed}" if listed else "")))
        extra.update(drifted_columns=drift.drifted_columns,
                     drift_report=str(drift.paths.html), drift_json=str(drift.paths.json))
    verdict = Verdict(checks, extra)
    write_json_atomic(out_dir / "result.json", verdict.as_dict())
    return verdict
