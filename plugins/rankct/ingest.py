"""Bring your own data: map CSV or parquet exports onto the raw-data contract.

A YAML mapping names, per contract table, which files feed it and how their columns, values and
timestamps translate (format in the README). Ingest writes complete daily partitions atomically
and then runs data gate 1 on every day it wrote.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from rankct.config import RankctConfig
from rankct.contract import SUCCESS_MARKER, TABLES, partition_path
from rankct.errors import DataContractError, RankctError
from rankct.io import atomic_dir
from rankct.spark import get_spark, spark_type, union_all

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from rankct.quality.results import ValidationResult

DIMENSIONS = ("items", "users", "sellers")


class TableMapping(BaseModel):
    files: str = Field(description="glob matched against file names, e.g. 'impressions*.csv'")
    columns: dict[str, str] = Field(default_factory=dict, description="contract column: source")
    values: dict[str, dict[str, str]] = Field(default_factory=dict,
                                              description="column: {source value: contract value}")
    timestamp_format: dict[str, str] = Field(default_factory=dict,
                                             description="column: pattern | epoch_s | epoch_ms | epoch_us")
    defaults: dict[str, Any] = Field(default_factory=dict)
    csv_delimiter: str = ","


class Mapping(BaseModel):
    timezone: str = "UTC"
    tables: dict[str, TableMapping]


@dataclass
class IngestOutcome:
    partitions: dict[str, list[date]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    validations: list[ValidationResult] = field(default_factory=list)


def load_mapping(path: Path | str) -> Mapping:
    """Parse and check a mapping file; unknown tables or columns are named in the error."""
    path = Path(path)
    if not path.exists():
        raise RankctError(f"mapping file {path} does not exist")
    try:
        mapping = Mapping.model_validate(yaml.safe_load(path.read_text()) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise RankctError(f"mapping file {path} is invalid:\n{exc}",
                          hint="see 'Bring your own data' in the README") from None
    for table, spec in mapping.tables.items():
        if table not in TABLES:
            raise RankctError(f"mapping file {path}: unknown table {table!r}",
                              hint=f"contract tables: {', '.join(TABLES)}")
        known = set(TABLES[table].column_names)
        for section in ("columns", "values", "timestamp_format", "defaults"):
            unknown = set(getattr(spec, section)) - known
            if unknown:
                raise RankctError(f"mapping file {path}: {table}.{section} names "
                                  f"{sorted(unknown)}, not columns of the contract table",
                                  hint=f"{table} columns: {', '.join(sorted(known))}")
    return mapping


def _read(spark: SparkSession, file: Path, spec: TableMapping) -> DataFrame:
    if not file.exists():
        raise DataContractError(f"input file {file} does not exist")
    if file.stat().st_size == 0:
        raise DataContractError(f"input file {file} is empty", hint="re-export it")
    if file.suffix == ".parquet":
        import pyarrow as pa

        from rankct.quality.files import read_footer
        try:
            read_footer(file)
        except (OSError, pa.ArrowException) as exc:
            raise DataContractError(f"input file {file} is not a readable parquet file ({exc})",
                                    hint="re-export it") from None
        return spark.read.parquet(str(file))
    if file.suffix in (".csv", ".tsv", ".txt"):
        return spark.read.csv(str(file), header=True, sep=spec.csv_delimiter)
    raise DataContractError(f"input file {file}: unsupported format {file.suffix!r}",
                            hint="export CSV (.csv) or parquet (.parquet)")


def _timestamp(col: Column, fmt: str | None, timezone: str) -> Column:
    from pyspark.sql import functions as F

    if fmt == "epoch_s":
        ts = F.timestamp_seconds(col.cast("double"))
    elif fmt == "epoch_ms":
        ts = F.timestamp_millis(col.cast("long"))
    elif fmt == "epoch_us":
        ts = F.timestamp_micros(col.cast("long"))
    elif fmt:
        ts = F.to_timestamp(col.cast("string"), fmt)
    else:
        ts = col.cast("timestamp")
    # Epochs are absolute; text without a zone is read in the export's zone.
    return ts if fmt in ("epoch_s", "epoch_ms", "epoch_us") or timezone == "UTC" else F.to_utc_timestamp(ts, timezone)


def to_contract(df: DataFrame, table: str, spec: TableMapping, timezone: str,
                source: str) -> DataFrame:
    """Select, rename, translate and cast an export's columns into the contract table."""
    from pyspark.sql import functions as F

    out = []
    for column in TABLES[table].columns:
        name = spec.columns.get(column.name, column.name)
        if name in df.columns:
            col = F.col(f"`{name}`")
        elif column.name in spec.defaults:
            col = F.lit(spec.defaults[column.name])
        elif column.nullable:
            col = F.lit(None)
        else:
            raise DataContractError(
                f"{source}: column {name!r} for {table}.{column.name} is missing "
                f"(file has {', '.join(df.columns)})",
                hint=f"map it under tables.{table}.columns or give tables.{table}.defaults")
        if column.name in spec.values:
            pairs = [x for kv in spec.values[column.name].items() for x in (F.lit(kv[0]), F.lit(kv[1]))]
            lookup = F.create_map(*pairs)
            col = F.coalesce(lookup[col.cast("string")], col.cast("string"))
        if column.name in spec.timestamp_format or str(column.type).startswith("timestamp"):
            col = _timestamp(col, spec.timestamp_format.get(column.name), timezone)
        out.append(col.cast(spark_type(column.type)).alias(column.name))
    return df.select(out)


def _with_partition_date(frames: dict[str, DataFrame]) -> dict[str, DataFrame]:
    from pyspark.sql import functions as F

    dated = {}
    for table, df in frames.items():
        if table == "impressions":
            dated[table] = df.withColumn("dt", F.to_date("served_at"))
        elif table == "events" and "impressions" in frames:
            # Events live with the request they attribute to (see the contract).
            request_day = (frames["impressions"].groupBy("request_id")
                           .agg(F.min(F.to_date("served_at")).alias("_req_dt")))
            dated[table] = (df.join(request_day, "request_id", "left")
                            .withColumn("dt", F.coalesce("_req_dt", F.to_date("event_at")))
                            .drop("_req_dt"))
        elif table == "events":
            dated[table] = df.withColumn("dt", F.to_date("event_at"))
        else:
            dated[table] = df.withColumn("dt", F.to_date("updated_at"))
    return dated


def _publish(spark: SparkSession, df: DataFrame, data_root: Path, table: str,
             extra_days: set[date]) -> tuple[list[date], int]:
    """Write ``df`` partitioned by ``dt``; each day's folder replaces the old one in one rename."""
    staging = data_root / "raw" / f".ingest-{table}-{uuid.uuid4().hex[:8]}"
    try:
        df.repartition("dt").sortWithinPartitions(*TABLES[table].key).write.partitionBy("dt") \
            .parquet(str(staging))
        days = {date.fromisoformat(p.name[3:]) for p in staging.glob("dt=*")}
        # Count from the written footers: df.count() would re-read and re-map the whole export.
        from rankct.quality.files import read_footer
        rows = sum(read_footer(f).num_rows for f in staging.rglob("*.parquet"))
        for day in sorted(days | extra_days):
            src = staging / f"dt={day.isoformat()}"
            if not src.exists():
                # A day without changes still gets a complete, empty partition.
                spark.createDataFrame([], df.drop("dt").schema).coalesce(1).write.parquet(str(src))
            with atomic_dir(partition_path(data_root, table, day)) as tmp:
                for file in src.iterdir():
                    os.replace(file, tmp / file.name)
                (tmp / SUCCESS_MARKER).touch()
        return sorted(days | extra_days), rows
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ingest(mapping_path: Path | str, files: list[Path], out: Path | str, config: RankctConfig,
           reports_dir: Path | str | None = None, validate: bool = True) -> IngestOutcome:
    """Convert ``files`` into contract partitions under ``out`` and validate each day written."""
    mapping = load_mapping(mapping_path)
    out = Path(out)
    spark = get_spark(config.spark)
    by_table: dict[str, list[Path]] = {}
    for file in map(Path, files):
        tables = [t for t, spec in mapping.tables.items() if fnmatch.fnmatch(file.name, spec.files)]
        if len(tables) != 1:
            raise RankctError(f"input file {file.name} matches {len(tables)} tables of the mapping "
                              f"({', '.join(tables) or 'none'})",
                              hint="make each table's 'files' glob match its own files only")
        by_table.setdefault(tables[0], []).append(file)

    frames = {}
    for table, table_files in by_table.items():
        spec = mapping.tables[table]
        parts = [to_contract(_read(spark, f, spec), table, spec, mapping.timezone, str(f))
                 for f in table_files]
        frames[table] = union_all(parts)
    frames = _with_partition_date(frames)

    outcome = IngestOutcome()
    fact_days: set[date] = set()
    for table in ("impressions", "events", *DIMENSIONS):
        if table not in frames:
            continue
        extra = fact_days if table in DIMENSIONS else set()
        outcome.partitions[table], outcome.rows[table] = _publish(spark, frames[table], out, table,
                                                                  extra)
        if table == "impressions":
            fact_days = set(outcome.partitions[table])
    if validate:
        from rankct.quality.gate import validate_partition
        outcome.validations = [validate_partition(out, day, config, spark, reports_dir)
                               for day in sorted(fact_days)]
    return outcome

