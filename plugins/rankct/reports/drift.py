"""Evidently reports on training data: feature drift against a reference set, and a summary.

Drift uses Evidently's DataDriftPreset with its automatic per-column tests (on samples above
1,000 rows: normed Wasserstein distance for numbers, Jensen-Shannon for categories, drift at 0.1),
so the drifted columns are the ones the Evidently UI shows. A column that lost every value in
the current set counts as drifted too; one without values in the reference is not compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rankct.errors import RankctError
from rankct.reports.publish import Header, ReportPaths, publish, run_snapshot


@dataclass(frozen=True)
class DriftResult:
    """Which columns drifted, per Evidently's column tests, and where the report is."""

    share: float
    drifted_columns: list[str]
    scores: dict[str, float]
    n_columns: int
    paths: ReportPaths


def _definition(frame: pd.DataFrame, columns: list[str]):
    from evidently import DataDefinition

    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    return DataDefinition(numerical_columns=numeric,
                          categorical_columns=[c for c in columns if c not in numeric])


def _sample(frame: pd.DataFrame, columns: list[str], rows: int) -> pd.DataFrame:
    picked = frame[columns]
    return picked.sample(n=rows, random_state=0) if len(picked) > rows else picked


def feature_drift_report(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str],
                         out_dir: Path | str, *, drift_share: float = 0.5,
                         sample_rows: int = 20_000, facts: dict[str, str] | None = None,
                         title: str = "Feature drift", name: str = "feature_drift") -> DriftResult:
    """Drift of ``current`` against ``reference`` over ``columns``; HTML and JSON report."""
    from evidently.presets import DataDriftPreset

    missing = sorted({c for c in columns if c not in reference.columns or c not in current.columns})
    if missing:
        raise RankctError(f"drift report: columns {missing} are not in both data sets",
                          hint="compare training sets built from the same FeatureService")
    ref, cur = _sample(reference, columns, sample_rows), _sample(current, columns, sample_rows)
    # Evidently cannot test a column without values. One the current set lost is the worst drift
    # there is (a broken feature); one the reference never had cannot be compared.
    lost = [c for c in columns if cur[c].isna().all() and ref[c].notna().any()]
    not_comparable = [c for c in columns if ref[c].isna().all()]
    tested = [c for c in columns if c not in lost and c not in not_comparable]
    if not tested:
        raise RankctError("drift report: no feature column has values in both data sets",
                          hint="check that the feature tables were built for the training window")
    ref, cur = ref[tested], cur[tested]
    header = Header(
        title=title,
        description=("Each feature's distribution in the current data against the reference "
                     "(the current champion's training set). A column drifts when its test "
                     f"crosses the threshold shown; the data set drifts when at least "
                     f"{drift_share:.0%} of columns do."),
        tags=["drift", "data-gate-2"],
        facts={**(facts or {}), "reference rows": f"{len(ref):,}", "current rows": f"{len(cur):,}",
               "columns": str(len(columns))})
    snapshot = run_snapshot([DataDriftPreset(drift_share=drift_share)], cur, ref,
                            _definition(cur, tested), header)
    result = snapshot.dict()
    scores = {m["config"]["column"]: float(m["value"]) for m in result["metrics"]
              if m["config"]["type"].endswith(":ValueDrift")}
    drifted = sorted(lost + [t["metric_config"]["params"]["column"] for t in result["tests"]
                             if t["metric_config"]["params"]["type"].endswith(":ValueDrift")
                             and t["status"] == "FAIL"])
    share = len(drifted) / max(len(tested) + len(lost), 1)
    summary = {"drift_share": share, "drifted_columns": drifted, "scores": scores,
               "threshold_share": drift_share, "lost_columns": lost,
               "not_comparable_columns": not_comparable}
    header.tables["Drift score per column"] = pd.DataFrame(
        {"column": list(scores), "drift score": list(scores.values()),
         "drifted": [c in drifted for c in scores]})
    if lost or not_comparable:
        header.tables["Columns without values"] = pd.DataFrame(
            {"column": lost + not_comparable,
             "verdict": ["drifted: no values in the current set"] * len(lost)
             + ["not compared: no values in the reference"] * len(not_comparable)})
    paths = publish(snapshot, header, summary, out_dir, name)
    return DriftResult(float(share), drifted, scores, len(columns), paths)


def training_summary_report(frame: pd.DataFrame, columns: list[str], out_dir: Path | str, *,
                            sample_rows: int = 50_000, facts: dict[str, str] | None = None,
                            name: str = "training_summary") -> ReportPaths:
    """Evidently data summary (counts, missing values, distributions) of a training set."""
    from evidently.presets import DataSummaryPreset

    sample = _sample(frame, columns, sample_rows)
    header = Header(title="Training set summary",
                    description="Missing values, ranges and distributions of every feature and "
                                "the label, on a sample of the training set.",
                    tags=["data-summary", "training-set"],
                    facts={**(facts or {}), "rows (sample)": f"{len(sample):,}",
                           "rows (all)": f"{len(frame):,}"})
    snapshot = run_snapshot([DataSummaryPreset()], sample, None, _definition(sample, columns),
                            header)
    return publish(snapshot, header, {"rows": len(frame), "sample_rows": len(sample)}, out_dir,
                   name)
