"""Drift of what serving sees, day over day.

- features: the item and user feature tables as of D against the newest earlier tables, at most
  ``monitoring.drift_reference_days`` back (Evidently's column tests, as data gate 2 uses): a
  sudden day-over-day change, not the slow drift retraining absorbs. The check fails when the
  drifted share of a table's columns reaches ``monitoring.max_feature_drift_share``;
- scores: the batch scores of D against the newest earlier scores of the same champion version
  (a new model is expected to score differently). The distance is the Wasserstein distance in
  units of the reference scores' standard deviation; it fails above
  ``monitoring.max_score_drift``. Both publish an Evidently report to the monitoring project.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd

from rankct.config import RankctConfig
from rankct.contract import SUCCESS_MARKER
from rankct.features.build import FeaturePaths
from rankct.monitoring.record import conclude

# Entity tables with one row per item / user; identifiers and codes are not distributions.
DRIFT_TABLES = {"item_features": ["item_id", "event_timestamp", "category_code", "brand_code"],
                "user_features": ["user_id", "event_timestamp"]}


def _reports_dir(config: RankctConfig, day: date):
    return config.reports_dir / "monitoring" / f"dt={day.isoformat()}"


def _reference_day(config: RankctConfig, table: str, day: date) -> date | None:
    """The newest earlier partition at most ``drift_reference_days`` back (a day the data gate
    stopped has none), or None."""
    paths = FeaturePaths(config.data_root)
    for back in range(1, config.monitoring.drift_reference_days + 1):
        candidate = day - timedelta(days=back)
        if (paths.table(table, candidate) / SUCCESS_MARKER).exists():
            return candidate
    return None


def feature_drift(config: RankctConfig, day: date) -> dict[str, Any]:
    """Drift of the item and user feature tables of ``day`` against an earlier day's."""
    from rankct.reports.drift import feature_drift_report
    from rankct.reports.workspace import add_report

    paths, limit = FeaturePaths(config.data_root), config.monitoring.max_feature_drift_share
    tables: dict[str, Any] = {}
    urls: list[str] = []
    for table, skip in DRIFT_TABLES.items():
        if not (paths.table(table, day) / SUCCESS_MARKER).exists():
            return conclude(config, day, "feature_drift", False, f"{table} dt={day} is missing",
                            hint=f"build the features of {day} first (training DAG)")
        reference_day = _reference_day(config, table, day)
        if reference_day is None:
            tables[table] = {"reference": None, "note": "no earlier partition to compare with"}
            continue
        current = pd.read_parquet(paths.table(table, day))
        reference = pd.read_parquet(paths.table(table, reference_day))
        columns = [c for c in current.columns if c not in skip]
        result = feature_drift_report(
            reference, current, columns, _reports_dir(config, day), drift_share=limit,
            sample_rows=config.gate.drift_sample_rows, title=f"Served feature drift: {table}",
            name=f"feature_drift_{table}",
            facts={"day": day.isoformat(), "reference day": reference_day.isoformat()})
        urls.append(add_report(config, result.paths.snapshot, "monitoring",
                               name=f"{table} drift {day}").url)
        tables[table] = {"reference": reference_day.isoformat(), "share": result.share,
                         "drifted_columns": result.drifted_columns,
                         "report": str(result.paths.html)}
    drifted = {t: v for t, v in tables.items() if v.get("share", 0.0) >= limit}
    detail = ("; ".join(f"{t}: {v['share']:.0%} of columns drifted against dt={v['reference']} "
                        f"({', '.join(v['drifted_columns'][:8])})" for t, v in drifted.items())
              or "no table drifted beyond " f"{limit:.0%} of its columns")
    return conclude(config, day, "feature_drift", not drifted, detail,
                    hint="open the drift report; a real market shift passes the next training "
                         "run with a max_drift_share override, a broken feature needs a fix",
                    tables=tables, report_url=urls[0] if urls else None)


def score_drift(config: RankctConfig, day: date) -> dict[str, Any]:
    """The day's batch scores against the newest earlier scores of the same model version."""
    import numpy as np
    from scipy.stats import wasserstein_distance

    from rankct.pipeline.scoring import scored_days, scoring_record
    from rankct.reports.drift import feature_drift_report
    from rankct.reports.workspace import add_report

    if not scoring_record(config, day).exists():
        return conclude(config, day, "score_drift", False, f"no batch scores recorded for {day}",
                        hint="run the batch-scoring DAG for this day")
    runs = {r["day"]: r for r in scored_days(config)}
    today = runs[day.isoformat()]
    earlier = [r for d, r in sorted(runs.items())
               if d < day.isoformat() and r.get("version") == today.get("version")]
    if not earlier:
        return conclude(config, day, "score_drift", True,
                        f"no earlier scores of v{today.get('version')} to compare with", hint="",
                        distance=None, version=today.get("version"))
    reference = earlier[-1]
    current = pd.read_parquet(today["path"], columns=["score"])
    previous = pd.read_parquet(reference["path"], columns=["score"])
    spread = float(previous["score"].std()) or 1.0
    distance = float(wasserstein_distance(current["score"], previous["score"]) / spread)
    result = feature_drift_report(
        previous, current, ["score"], _reports_dir(config, day),
        sample_rows=config.gate.drift_sample_rows, title="Batch score drift", name="score_drift",
        facts={"day": day.isoformat(), "reference day": reference["day"],
               "model version": str(today.get("version"))})
    url = add_report(config, result.paths.snapshot, "monitoring", name=f"score drift {day}").url
    limit = config.monitoring.max_score_drift
    detail = (f"scores of v{today.get('version')} moved {distance:.3f} reference standard "
              f"deviations (Wasserstein) against dt={reference['day']}; limit {limit:g}")
    return conclude(config, day, "score_drift", bool(np.isfinite(distance) and
                                                     distance <= limit), detail,
                    hint="compare the feature drift report of the same day: scores move when "
                         "their inputs do", distance=distance, reference=reference["day"],
                    version=today.get("version"), report_url=url)
