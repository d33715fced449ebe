"""Content checks of a day's partitions, on Spark so they scale with the data.

The rules are declared once in :mod:`rankct.quality.rules`; this module renders each rule set to
one Spark aggregation (the counts as Spark SQL expressions over the day's DataFrame, the lookups
as grouped DataFrames joined on their key). :func:`run_checks` joins those one-row aggregations
and collects them in a single Spark action, then records each rule; a day costs one round trip
to Spark, not one per rule.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from rankct.contract import TABLES, list_partitions, partition_path
from rankct.quality.files import PartitionFiles
from rankct.quality.results import ValidationResult
from rankct.quality.rules import Lookup, RuleSpec
from rankct.spark import spark_schema, spark_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def run_checks(result: ValidationResult, specs: list[RuleSpec], frames: dict[str, DataFrame],
               spark: SparkSession, data_root: Path, day: date) -> None:
    """Evaluate every rule set in one Spark action and record their results."""
    if not specs:
        return
    aggregations = [spark_aggregation(spec, frames, spark, data_root, day) for spec in specs]
    combined = aggregations[0]
    for frame in aggregations[1:]:
        combined = combined.crossJoin(frame)
    row = combined.first().asDict()
    for spec in specs:
        prefix = f"{spec.name}__"
        spec.record(result, {k[len(prefix):]: v for k, v in row.items() if k.startswith(prefix)})


def spark_aggregation(spec: RuleSpec, frames: dict[str, DataFrame], spark: SparkSession,
                      data_root: Path, day: date) -> DataFrame:
    """The one-row aggregation of ``spec`` over the day's DataFrames, columns ``<name>__<count>``."""
    from pyspark.sql import functions as F

    df = frames[spec.base].select(*spec.columns)
    for lookup in spec.lookups:
        df = df.join(_lookup_frame(lookup, frames, spark, data_root, day), list(lookup.key), "left")
    columns = [F.expr(count.render("spark")).alias(f"{spec.name}__{count.name}")
               for count in spec.counts]
    if spec.unique_key:
        # Rows beyond the first of each key (a null key counts as one key, as in GROUP BY).
        columns.append((F.count(F.lit(1)) - F.count_distinct(F.struct(*spec.unique_key)))
                       .alias(f"{spec.name}___dups"))
    return df.agg(*columns)


def _lookup_frame(lookup: Lookup, frames: dict[str, DataFrame], spark: SparkSession,
                  data_root: Path, day: date) -> DataFrame:
    from pyspark.sql import functions as F

    source = (load_history(spark, data_root, lookup.table, day, lookup.columns)
              if lookup.history else frames[lookup.table])
    return source.groupBy(*lookup.key).agg(
        *[F.min(column).alias(alias) for alias, column in lookup.earliest],
        F.lit(True).alias(lookup.flag))


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
