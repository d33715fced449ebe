"""Rules about a partition as a whole, shared by both engines of data gate 1: its columns against
the contract and its volume against the trailing days. The engines only say what they saw (the
columns and types a file footer or INFORMATION_SCHEMA reports, the row counts of the days)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import date

import pyarrow as pa

from rankct.config import QualityConfig
from rankct.contract import TABLES
from rankct.quality.results import CheckResult, ValidationResult


def check_schema(result: ValidationResult, table: str, where: str,
                 actual: dict[str, pa.DataType],
                 compatible: Callable[[pa.DataType, pa.DataType], bool]) -> bool:
    """Every contract column is present with a compatible type; extra columns are allowed.
    Returns whether the table's content rules may run."""
    ok = True
    for column in TABLES[table].columns:
        if column.name not in actual:
            similar = [n for n in actual if n.lower().replace("_", "") ==
                       column.name.lower().replace("_", "")]
            hint = f" (found {similar[0]!r}: renamed?)" if similar else ""
            result.add(CheckResult(table, "schema_column", where, False, column=column.name,
                                   observed="missing", threshold="required",
                                   detail=f"column is missing{hint}"))
            ok = False
        elif not compatible(actual[column.name], column.type):
            result.add(CheckResult(table, "schema_type", where, False, column=column.name,
                                   observed=str(actual[column.name]), threshold=str(column.type)))
            ok = False
    if ok:
        result.add(CheckResult(table, "schema", where, True, observed=f"{len(actual)} columns"))
    return ok


def check_volume(result: ValidationResult, rows: int, history: dict[date, int], day: date,
                 quality: QualityConfig) -> None:
    """The day's impressions lie within a band around the median of the trailing days."""
    where = f"dt={day.isoformat()}"
    band = (quality.volume_band_low, quality.volume_band_high)
    if len(history) < quality.volume_min_history_days:
        result.add(CheckResult("impressions", "volume_band", where, True, skipped=True,
                               observed=rows, threshold=band,
                               detail=f"only {len(history)} trailing days, need "
                                      f"{quality.volume_min_history_days}"))
        return
    median = statistics.median(history.values())
    ratio = rows / median if median else float("inf")
    result.add(CheckResult("impressions", "volume_band", where, band[0] <= ratio <= band[1],
                           observed=ratio, threshold=band,
                           detail=f"{rows} rows vs trailing median {median:.0f} "
                                  f"({len(history)} days)"))


def content_not_run(result: ValidationResult, table: str, day: date) -> None:
    """Record that a table's content rules did not run because its file or schema checks failed."""
    result.add(CheckResult(table, "content", f"dt={day}", False, skipped=True,
                           detail="not run: the file or schema checks failed"))


def optional_missing(result: ValidationResult, table: str, where: str) -> None:
    """An optional table the data does not provide at all: skipped, not failed."""
    result.add(CheckResult(table, "partition_exists", where, True, skipped=True,
                           detail="optional table not provided"))
