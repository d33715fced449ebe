"""Data gate 1 for one day: file checks, Spark content checks, a JSON verdict and a report."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rankct.config import RankctConfig, load_config
from rankct.contract import TABLES
from rankct.errors import DataGateFailed
from rankct.io import write_json_atomic
from rankct.quality import content
from rankct.quality.files import PartitionFiles, check_files, partition_row_count
from rankct.quality.layout import check_volume, content_not_run
from rankct.quality.results import ValidationResult
from rankct.quality.rules import day_specs

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
OPTIONAL_TABLES = ("sellers",)


def gate_dir(reports_dir: Path | str, day: date) -> Path:
    """Where the data gate writes its verdict and report for ``day``."""
    return Path(reports_dir) / "data_gate" / f"dt={day.isoformat()}"


def validate_partition(data_root: Path | str, day: date, config: RankctConfig | None = None,
                       spark: SparkSession | None = None,
                       reports_dir: Path | str | None = None) -> ValidationResult:
    """Check every raw table's partition of ``day`` against the contract.

    Always writes ``result.json`` and, when any table could be read, an Evidently data summary
    (``data_summary.html``/``.json``) under ``<reports>/data_gate/dt=<day>/``. Returns the result;
    call ``require_pass`` to turn a failure into an exception.
    """
    config = config or load_config()
    data_root = Path(data_root)
    out = gate_dir(reports_dir or config.reports_dir, day)
    result = ValidationResult(date=day.isoformat(), data_root=str(data_root))
    parts = {t: check_files(result, data_root, t, day, optional=t in OPTIONAL_TABLES)
             for t in TABLES}

    frames: dict[str, DataFrame] = {}
    if any(p.usable for p in parts.values()):
        if spark is None:
            from rankct.spark import get_spark
            spark = get_spark(config.spark)
        frames = _content_checks(result, spark, parts, data_root, day, config)
    _volume_check(result, parts["impressions"], data_root, day, config)

    first = next((t for t in ("impressions", *frames) if t in frames), None)
    sample = _report_sample(frames, config.quality.report_sample_rows,
                            parts[first].num_rows if first else None)
    if sample is not None:
        from rankct.reports.data_summary import data_summary_report
        html, js = data_summary_report(sample, out)
        result.report_html, result.report_json = str(html), str(js)
    result.result_json = str(write_json_atomic(out / "result.json", result.to_dict()))
    log.info(result.summary())
    return result


def require_pass(result: ValidationResult) -> ValidationResult:
    """Raise ``DataGateFailed`` naming every failed rule unless the gate passed."""
    if not result.passed:
        raise DataGateFailed(result.summary(), hint=f"details: {result.result_json}")
    return result


def _content_checks(result: ValidationResult, spark: SparkSession,
                    parts: dict[str, PartitionFiles], data_root: Path, day: date,
                    config: RankctConfig) -> dict[str, DataFrame]:
    """Every content rule of the day's usable partitions, in one Spark action."""
    frames = {}
    for table, part in parts.items():
        if part.usable:
            frames[table] = content.load_partition(spark, part)
        elif part.files:
            content_not_run(result, table, day)
    specs = day_specs(set(frames), day, config.quality, config.labels)
    content.run_checks(result, specs, frames, spark, data_root, day)
    return frames


def _volume_check(result: ValidationResult, part: PartitionFiles, data_root: Path, day: date,
                  config: RankctConfig) -> None:
    if part.schema is None:
        return
    history = {}
    for back in range(1, config.quality.volume_history_days + 1):
        previous = day - timedelta(days=back)
        rows = partition_row_count(data_root, "impressions", previous)
        if rows is not None:
            history[previous] = rows
    check_volume(result, part.num_rows, history, day, config.quality)


def _report_sample(frames: dict[str, DataFrame], max_rows: int,
                   rows: int | None) -> pd.DataFrame | None:
    """A bounded sample of the day for the report: impressions with their outcome if possible.

    ``rows`` (the partition's row count, from its parquet footers) sets the sampling fraction,
    so the sample is one Spark action.
    """
    from pyspark.sql import functions as F

    if "impressions" in frames:
        df = frames["impressions"]
        if "events" in frames:
            outcome = frames["events"].groupBy("request_id", "item_id").agg(
                F.count(F.lit(1)).alias("events"))
            df = df.join(outcome, ["request_id", "item_id"], "left").fillna(0, ["events"])
    elif frames:
        df = next(iter(frames.values()))
    else:
        return None
    if rows is None:
        df = df.limit(max_rows)
    elif rows > max_rows:
        df = df.sample(fraction=min(1.0, 1.2 * max_rows / rows), seed=0).limit(max_rows)
    return df.toPandas()
