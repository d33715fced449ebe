"""Content checks of a day's partitions, on Spark so they scale with the data.

Each table is scanned with one aggregation for its per-row rules (nulls, vocabularies, dates), and
one join answers the cross-table rules (known items and users, events against impressions).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from rankct.config import LabelConfig, QualityConfig
from rankct.contract import EVENT_TYPES, SURFACES, TABLES, list_partitions, partition_path
from rankct.quality.files import PartitionFiles
from rankct.quality.results import CheckResult, ValidationResult
from rankct.spark import spark_schema, spark_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


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


def _duplicate_rows(df: DataFrame, key: tuple[str, ...]) -> int:
    from pyspark.sql import functions as F

    row = (df.groupBy(*key).count().where("count > 1")
           .agg(F.sum(F.col("count") - 1).alias("dups")).first())
    return int(row["dups"] or 0)


def _unique_check(result: ValidationResult, df: DataFrame, table: str, where: str, rows: int,
                  quality: QualityConfig) -> None:
    key = TABLES[table].key
    dups = _duplicate_rows(df, key)
    rate = _rate(dups, rows)
    result.add(CheckResult(table, "unique_key", where, rate <= quality.max_duplicate_rate,
                           column=",".join(key), observed=rate,
                           threshold=quality.max_duplicate_rate,
                           detail=f"{dups} duplicated rows"))


def check_table(result: ValidationResult, df: DataFrame, table: str, day: date,
                quality: QualityConfig) -> int:
    """Per-row rules of one table in a single scan; returns its row count."""
    from pyspark.sql import functions as F

    where = f"dt={day.isoformat()}"
    aggs = [F.count(F.lit(1)).alias("_rows")]
    aggs += [F.sum(F.col(c).isNull().cast("long")).alias(c) for c in TABLES[table].column_names]
    if table == "impressions":
        aggs += [
            F.sum((~F.col("surface").isin(*SURFACES)).cast("long")).alias("_bad_surface"),
            F.sum((F.col("position") < 1).cast("long")).alias("_bad_position"),
            F.sum((F.to_date("served_at") != F.lit(day)).cast("long")).alias("_off_date"),
        ]
    elif table == "events":
        aggs.append(F.sum((~F.col("event_type").isin(*EVENT_TYPES)).cast("long")).alias("_bad_type"))
    else:
        aggs.append(F.sum((F.to_date("updated_at") > F.lit(day)).cast("long")).alias("_future"))
    row = df.agg(*aggs).first().asDict()
    rows = int(row["_rows"])
    nulls = {c: int(row[c] or 0) for c in TABLES[table].column_names}
    if table in ("impressions", "events"):
        result.add(CheckResult(table, "not_empty", where, rows > 0, observed=rows, threshold="> 0"))
    _null_checks(result, table, where, rows, nulls, quality)
    _unique_check(result, df, table, where, rows, quality)

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
    return rows


def check_references(result: ValidationResult, spark: SparkSession, impressions: DataFrame,
                     data_root: Path, day: date, quality: QualityConfig) -> None:
    """Impressions resolve to known items and users, and no sold item is served after its sale."""
    from pyspark.sql import functions as F

    where = f"dt={day.isoformat()}"
    items = (load_history(spark, data_root, "items", day, ["item_id", "sold_at"])
             .groupBy("item_id").agg(F.min("sold_at").alias("sold_at"), F.lit(True).alias("_i")))
    users = (load_history(spark, data_root, "users", day, ["user_id"]).distinct()
             .withColumn("_u", F.lit(True)))
    joined = (impressions.select("item_id", "user_id", "served_at")
              .join(items, "item_id", "left").join(users, "user_id", "left"))
    row = joined.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col("_i").isNull().cast("long")).alias("unknown_items"),
        F.sum(F.col("_u").isNull().cast("long")).alias("unknown_users"),
        F.sum((F.col("served_at") > F.col("sold_at")).cast("long")).alias("after_sale"),
    ).first()
    rows = int(row["rows"])
    for rule, column, key, limit in (
        ("known_items", "item_id", "unknown_items", quality.max_orphan_rate),
        ("known_users", "user_id", "unknown_users", quality.max_orphan_rate),
        ("shown_after_sale", "item_id", "after_sale", quality.max_shown_after_sale_rate),
    ):
        count = int(row[key] or 0)
        rate = _rate(count, rows)
        result.add(CheckResult("impressions", rule, where, rate <= limit, column=column,
                               observed=rate, threshold=limit, detail=f"{count} of {rows} rows"))


def check_event_times(result: ValidationResult, events: DataFrame, impressions: DataFrame,
                      day: date, quality: QualityConfig, labels: LabelConfig) -> None:
    """Every event attributes to an impression and happens after it, inside the window."""
    from pyspark.sql import functions as F

    where = f"dt={day.isoformat()}"
    served = (impressions.groupBy("request_id", "item_id").agg(F.min("served_at").alias("served_at"))
              .withColumn("_m", F.lit(True)))
    window = F.expr(f"INTERVAL {labels.attribution_window_minutes} MINUTES")
    row = events.join(served, ["request_id", "item_id"], "left").agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col("_m").isNull().cast("long")).alias("unmatched"),
        F.sum((F.col("event_at") < F.col("served_at")).cast("long")).alias("before"),
        F.sum((F.col("event_at") > F.col("served_at") + window).cast("long")).alias("late"),
    ).first()
    rows = int(row["rows"])
    for rule, key, limit, detail in (
        ("event_matches_impression", "unmatched", quality.max_orphan_rate,
         "events with no impression of the same request and item"),
        ("event_after_impression", "before", quality.max_event_time_violation_rate,
         "events before their impression"),
        ("event_in_window", "late", quality.max_event_time_violation_rate,
         f"events more than {labels.attribution_window_minutes} minutes after the impression"),
    ):
        count = int(row[key] or 0)
        rate = _rate(count, rows)
        result.add(CheckResult("events", rule, where, rate <= limit, column="event_at",
                               observed=rate, threshold=limit, detail=f"{count} {detail}"))


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
