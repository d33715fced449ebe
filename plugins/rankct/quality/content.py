"""Content checks of a day's partitions, on Spark so they scale with the data.

Every rule is a count inside an aggregation: one per table for its per-row rules (nulls,
vocabularies, dates, duplicated keys) and one per cross-table rule set (known items and users,
events against impressions). :func:`run_checks` joins those one-row aggregations and collects
them in a single Spark action, then records each rule; a day costs one round trip to Spark, not
one per rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankct.config import LabelConfig, QualityConfig
from rankct.contract import EVENT_TYPES, SURFACES, TABLES, list_partitions, partition_path
from rankct.quality.files import PartitionFiles
from rankct.quality.results import CheckResult, ValidationResult
from rankct.spark import spark_schema, spark_type

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


@dataclass(frozen=True)
class RuleSet:
    """Counts to compute (one-row aggregation ``frame``, columns prefixed ``name``) and the
    function that turns the collected counts into check results."""

    name: str
    frame: DataFrame
    record: Callable[[ValidationResult, dict[str, Any]], None]


def run_checks(result: ValidationResult, rule_sets: list[RuleSet]) -> None:
    """Evaluate every rule set in one Spark action and record their results."""
    if not rule_sets:
        return
    combined = rule_sets[0].frame
    for rule_set in rule_sets[1:]:
        combined = combined.crossJoin(rule_set.frame)
    row = combined.first().asDict()
    for rule_set in rule_sets:
        prefix = f"{rule_set.name}__"
        rule_set.record(result, {k[len(prefix):]: v for k, v in row.items()
                                 if k.startswith(prefix)})


def _counts(df: DataFrame, name: str, counts: dict[str, Column]) -> DataFrame:
    return df.agg(*[column.alias(f"{name}__{key}") for key, column in counts.items()])


def _count(condition: Column) -> Column:
    from pyspark.sql import functions as F

    return F.sum(condition.cast("long"))


def load_partition(spark: SparkSession, part: PartitionFiles) -> DataFrame:
    """A usable partition as a DataFrame with the contract's column names and types."""
    from pyspark.sql import functions as F

    df = spark.read.parquet(*[str(f) for f in part.files])
    return df.select([F.col(c.name).cast(spark_type(c.type)).alias(c.name)
                      for c in TABLES[part.table].columns])


def load_history(spark: SparkSession, data_root: Path, table: str, until: date,
                 columns: list[str]) -> DataFrame:
    """``columns`` of every complete partition of a change log up to and including ``until``.

    Reading only the named columns with an explicit schema keeps an old partition with a bad
    column elsewhere from breaking today's check.
    """
    import pyarrow as pa

    contract = TABLES[table]
    schema = spark_schema(pa.schema([contract.schema.field(c) for c in columns]))
    paths = [str(partition_path(data_root, table, d)) for d in list_partitions(data_root, table)
             if d <= until]
    if not paths:
        return spark.createDataFrame([], schema)
    return spark.read.schema(schema).parquet(*paths)


def _rate(count: int, rows: int) -> float:
    return count / rows if rows else 0.0


def _null_checks(result: ValidationResult, table: str, where: str, rows: int, nulls: dict,
                 quality: QualityConfig) -> None:
    for column in TABLES[table].columns:
        if column.nullable and column.name != "position":
            continue
        limit = (quality.max_null_rate_position if column.name == "position"
                 else quality.max_null_rate_required)
        rate = _rate(nulls[column.name], rows)
        result.add(CheckResult(table, "null_rate", where, rate <= limit, column=column.name,
                               observed=rate, threshold=limit,
                               detail=f"{nulls[column.name]} of {rows} rows are null"))


def table_rules(df: DataFrame, table: str, day: date, quality: QualityConfig) -> RuleSet:
    """The per-row rules of one table, and its duplicated keys, in one aggregation."""
    from pyspark.sql import functions as F

    counts = {"_rows": F.count(F.lit(1)),
              # Rows beyond the first of each key (a null key counts as one key, as in GROUP BY).
              "_dups": F.count(F.lit(1)) - F.count_distinct(F.struct(*TABLES[table].key))}
    counts.update({c: _count(F.col(c).isNull()) for c in TABLES[table].column_names})
    if table == "impressions":
        counts["_bad_surface"] = _count(~F.col("surface").isin(*SURFACES))
        counts["_bad_position"] = _count(F.col("position") < 1)
        counts["_off_date"] = _count(F.to_date("served_at") != F.lit(day))
    elif table == "events":
        counts["_bad_type"] = _count(~F.col("event_type").isin(*EVENT_TYPES))
    else:
        counts["_future"] = _count(F.to_date("updated_at") > F.lit(day))

    def record(result: ValidationResult, row: dict[str, Any]) -> None:
        _record_table(result, row, table, day, quality)

    return RuleSet(table, _counts(df, table, counts), record)


def _record_table(result: ValidationResult, row: dict[str, Any], table: str, day: date,
                  quality: QualityConfig) -> None:
    where = f"dt={day.isoformat()}"
    rows = int(row["_rows"])
    nulls = {c: int(row[c] or 0) for c in TABLES[table].column_names}
    if table in ("impressions", "events"):
        result.add(CheckResult(table, "not_empty", where, rows > 0, observed=rows, threshold="> 0"))
    _null_checks(result, table, where, rows, nulls, quality)
    dups = int(row["_dups"] or 0)
    rate = _rate(dups, rows)
    result.add(CheckResult(table, "unique_key", where, rate <= quality.max_duplicate_rate,
                           column=",".join(TABLES[table].key), observed=rate,
                           threshold=quality.max_duplicate_rate, detail=f"{dups} duplicated rows"))

    def vocabulary(column: str, bad: int, allowed: str) -> None:
        rate = _rate(bad, rows)
        result.add(CheckResult(table, "allowed_values", where, bad == 0, column=column,
                               observed=rate, threshold=0.0,
                               detail=f"{bad} rows outside {allowed}"))

    if table == "impressions":
        vocabulary("surface", int(row["_bad_surface"] or 0), "|".join(SURFACES))
        vocabulary("position", int(row["_bad_position"] or 0), "1, 2, 3, ...")
        off = int(row["_off_date"] or 0)
        result.add(CheckResult(table, "partition_date", where, off == 0, column="served_at",
                               observed=_rate(off, rows), threshold=0.0,
                               detail=f"{off} rows served on another day"))
    elif table == "events":
        vocabulary("event_type", int(row["_bad_type"] or 0), "|".join(EVENT_TYPES))
    else:
        future = int(row["_future"] or 0)
        result.add(CheckResult(table, "partition_date", where, future == 0, column="updated_at",
                               observed=_rate(future, rows), threshold=0.0,
                               detail=f"{future} rows updated after the partition's day"))


def reference_rules(spark: SparkSession, impressions: DataFrame, data_root: Path, day: date,
                    quality: QualityConfig) -> RuleSet:
    """Impressions resolve to known items and users, and no sold item is served after its sale."""
    from pyspark.sql import functions as F

    items = (load_history(spark, data_root, "items", day, ["item_id", "sold_at"])
             .groupBy("item_id").agg(F.min("sold_at").alias("sold_at"), F.lit(True).alias("_i")))
    users = (load_history(spark, data_root, "users", day, ["user_id"]).distinct()
             .withColumn("_u", F.lit(True)))
    joined = (impressions.select("item_id", "user_id", "served_at")
              .join(items, "item_id", "left").join(users, "user_id", "left"))
    counts = {"rows": F.count(F.lit(1)), "unknown_items": _count(F.col("_i").isNull()),
              "unknown_users": _count(F.col("_u").isNull()),
              "after_sale": _count(F.col("served_at") > F.col("sold_at"))}

    def record(result: ValidationResult, row: dict[str, Any]) -> None:
        where, rows = f"dt={day.isoformat()}", int(row["rows"])
        for rule, column, key, limit in (
            ("known_items", "item_id", "unknown_items", quality.max_orphan_rate),
            ("known_users", "user_id", "unknown_users", quality.max_orphan_rate),
            ("shown_after_sale", "item_id", "after_sale", quality.max_shown_after_sale_rate),
        ):
            count = int(row[key] or 0)
            rate = _rate(count, rows)
            result.add(CheckResult("impressions", rule, where, rate <= limit, column=column,
                                   observed=rate, threshold=limit,
                                   detail=f"{count} of {rows} rows"))

    return RuleSet("references", _counts(joined, "references", counts), record)


def event_time_rules(events: DataFrame, impressions: DataFrame, day: date,
                     quality: QualityConfig, labels: LabelConfig) -> RuleSet:
    """Every event attributes to an impression and happens after it, inside the window."""
    from pyspark.sql import functions as F

    served = (impressions.groupBy("request_id", "item_id").agg(F.min("served_at").alias("served_at"))
              .withColumn("_m", F.lit(True)))
    window = F.expr(f"INTERVAL {labels.attribution_window_minutes} MINUTES")
    joined = events.join(served, ["request_id", "item_id"], "left")
    counts = {"rows": F.count(F.lit(1)), "unmatched": _count(F.col("_m").isNull()),
              "before": _count(F.col("event_at") < F.col("served_at")),
              "late": _count(F.col("event_at") > F.col("served_at") + window)}

    late = f"events more than {labels.attribution_window_minutes} minutes after the impression"

    def record(result: ValidationResult, row: dict[str, Any]) -> None:
        where, rows = f"dt={day.isoformat()}", int(row["rows"])
        for rule, key, limit, detail in (
            ("event_matches_impression", "unmatched", quality.max_orphan_rate,
             "events with no impression of the same request and item"),
            ("event_after_impression", "before", quality.max_event_time_violation_rate,
             "events before their impression"),
            ("event_in_window", "late", quality.max_event_time_violation_rate, late),
        ):
            count = int(row[key] or 0)
            rate = _rate(count, rows)
            result.add(CheckResult("events", rule, where, rate <= limit, column="event_at",
                                   observed=rate, threshold=limit, detail=f"{count} {detail}"))

    return RuleSet("events_vs_impressions", _counts(joined, "events_vs_impressions", counts),
                   record)


def check_volume(result: ValidationResult, rows: int, history: dict[date, int], day: date,
                 quality: QualityConfig) -> None:
    """The day's impressions lie within a band around the median of the trailing days."""
    import statistics

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
