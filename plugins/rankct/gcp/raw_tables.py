"""The raw-data contract as BigQuery tables, and ``rankct bq load``.

One table per contract table, partitioned by day on a ``dt`` DATE column: the day of the
contract's ``raw/<table>/dt=D`` folder (an impression's served day, an event's request day, a
change log's export day), so a BigQuery partition holds exactly what a contract partition holds.
Every column is NULLABLE: whether a column may be null is data gate 1's rule (``null_rate``), and
a REQUIRED mode would turn a bad day into a failed load instead of a precise gate failure.

A day's load replaces the day: its load record is deleted first, then its rows, then the new rows
are appended and the record written last. The record (``gcp.partitions_table``) is BigQuery's
counterpart of the ``_SUCCESS`` marker: a reader seeing it knows the day's rows are all there.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rankct.config import RankctConfig
from rankct.contract import TABLES, list_partitions, partition_path
from rankct.errors import DataContractError
from rankct.gcp.clients import bigquery_client, bigquery_retry, dataset_id

if TYPE_CHECKING:
    from google.cloud import bigquery

log = logging.getLogger(__name__)
PARTITION_COLUMN = "dt"


def bigquery_type(arrow_type: pa.DataType) -> str:
    """The BigQuery type holding a contract column of ``arrow_type``."""
    if pa.types.is_integer(arrow_type):
        return "INT64"
    if pa.types.is_floating(arrow_type):
        return "FLOAT64"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if pa.types.is_string(arrow_type):
        return "STRING"
    raise TypeError(f"no BigQuery type for {arrow_type}")


def table_schema(table: str) -> list[bigquery.SchemaField]:
    """The BigQuery schema of a contract table: its columns, then the partition column."""
    from google.cloud import bigquery

    fields = [bigquery.SchemaField(c.name, bigquery_type(c.type), mode="NULLABLE",
                                   description=c.doc or None) for c in TABLES[table].columns]
    return [*fields, bigquery.SchemaField(PARTITION_COLUMN, "DATE", mode="REQUIRED")]


def partitions_schema() -> list[bigquery.SchemaField]:
    from google.cloud import bigquery

    return [bigquery.SchemaField("table_name", "STRING", mode="REQUIRED"),
            bigquery.SchemaField(PARTITION_COLUMN, "DATE", mode="REQUIRED"),
            bigquery.SchemaField("row_count", "INT64", mode="REQUIRED"),
            bigquery.SchemaField("loaded_at", "TIMESTAMP", mode="REQUIRED")]


def ensure_tables(client: bigquery.Client, config: RankctConfig) -> str:
    """Create the dataset, the contract's tables and the load record where missing; returns the
    dataset id. Existing tables are left as they are (data gate 1 checks their schema)."""
    from google.cloud import bigquery

    gcp, retry = config.gcp, bigquery_retry(config.gcp)
    ds = dataset_id(gcp, client)
    dataset = bigquery.Dataset(ds)
    dataset.location = gcp.location
    client.create_dataset(dataset, exists_ok=True, retry=retry)
    for table in TABLES:
        spec = bigquery.Table(f"{ds}.{table}", schema=table_schema(table))
        spec.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field=PARTITION_COLUMN)
        spec.description = TABLES[table].doc
        client.create_table(spec, exists_ok=True, retry=retry)
    record = bigquery.Table(f"{ds}.{gcp.partitions_table}", schema=partitions_schema())
    client.create_table(record, exists_ok=True, retry=retry)
    return ds


def partition_table(data_root: Path, table: str, day: date) -> pa.Table:
    """One contract partition read and cast to the BigQuery table's columns (plus ``dt``).

    Raises ``DataContractError`` naming the partition and column when it does not fit the
    contract: such a day is for ``rankct validate`` to diagnose, not for BigQuery.
    """
    import pyarrow.parquet as pq

    from rankct.quality.files import parquet_files

    path = partition_path(data_root, table, day)
    hint = f"run `rankct validate --data {data_root} --date {day}`, fix the partition, load again"
    try:
        data = pa.concat_tables([pq.read_table(f) for f in parquet_files(path)])
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise DataContractError(f"{path} cannot be read as parquet ({exc})", hint=hint) from None
    columns = []
    for column in TABLES[table].columns:
        if column.name not in data.column_names:
            raise DataContractError(f"{path}: column {column.name} is missing", hint=hint)
        target = pa.int64() if pa.types.is_integer(column.type) else column.type
        try:
            columns.append(data[column.name].cast(target))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataContractError(f"{path}: column {column.name} is {data[column.name].type}, "
                                    f"the contract says {column.type} ({exc})", hint=hint) from None
    columns.append(pa.array([day] * data.num_rows, pa.date32()))
    return pa.Table.from_arrays(columns, names=[*TABLES[table].column_names, PARTITION_COLUMN])


@dataclass(frozen=True)
class LoadedPartition:
    table: str
    day: date
    rows: int
    job_id: str


def _run(client: bigquery.Client, sql: str, params: dict[str, Any], config: RankctConfig) -> None:
    from google.cloud import bigquery

    kinds = {str: "STRING", date: "DATE", int: "INT64"}
    job_config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter(k, kinds[type(v)], v) for k, v in params.items()])
    retry = bigquery_retry(config.gcp)
    client.query(sql, job_config=job_config, retry=retry, job_retry=retry).result(
        retry=retry, timeout=config.gcp.request_timeout_seconds)


def load_partition(client: bigquery.Client, ds: str, data_root: Path, table: str, day: date,
                   config: RankctConfig) -> LoadedPartition:
    """Replace day ``day`` of ``table`` with the contract partition's rows (idempotent)."""
    import pyarrow.parquet as pq
    from google.cloud import bigquery

    data = partition_table(data_root, table, day)
    record = f"`{ds}.{config.gcp.partitions_table}`"
    keys = {"table_name": table, "day": day}
    # The record goes first and comes back last: a reader never takes a half-replaced day for
    # a complete one, and a load killed midway is repaired by loading the day again.
    _run(client, f"DELETE FROM {record} WHERE table_name = @table_name AND dt = @day", keys,
         config)
    _run(client, f"DELETE FROM `{ds}.{table}` WHERE dt = @day", {"day": day}, config)
    buffer = io.BytesIO()
    pq.write_table(data, buffer)
    buffer.seek(0)
    job_config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET, schema=table_schema(table),
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND)
    job = client.load_table_from_file(buffer, f"{ds}.{table}", job_config=job_config,
                                      timeout=config.gcp.request_timeout_seconds)
    job.result(retry=bigquery_retry(config.gcp), timeout=config.gcp.request_timeout_seconds)
    write_record(client, ds, table, day, data.num_rows, config)
    return LoadedPartition(table, day, data.num_rows, job.job_id)


def write_record(client: bigquery.Client, ds: str, table: str, day: date, rows: int,
                 config: RankctConfig) -> None:
    """Record day ``day`` of ``table`` as complete with ``rows`` rows (after its rows are in)."""
    _run(client, f"INSERT INTO `{ds}.{config.gcp.partitions_table}` (table_name, dt, row_count, "
                 "loaded_at) VALUES (@table_name, @day, @rows, CURRENT_TIMESTAMP())",
         {"table_name": table, "day": day, "rows": rows}, config)


def load_range(data_root: Path | str, config: RankctConfig, start: date | None = None,
               end: date | None = None, client: bigquery.Client | None = None,
               tables: tuple[str, ...] = tuple(TABLES)) -> list[LoadedPartition]:
    """Load every complete contract partition of ``data_root`` (of ``tables``) between ``start``
    and ``end`` (inclusive; open ends take all) into the configured dataset, a day each."""
    data_root = Path(data_root)
    days = {t: [d for d in list_partitions(data_root, t)
                if (start is None or d >= start) and (end is None or d <= end)] for t in tables}
    if not any(days.values()):
        raise DataContractError(f"no complete partition under {data_root / 'raw'} between "
                                f"{start or 'the first day'} and {end or 'the last day'}",
                                hint="check --data-root, --from and --to (raw/<table>/dt=D "
                                     "with a _SUCCESS marker)")
    client = client or bigquery_client(config.gcp)
    ds = ensure_tables(client, config)
    loaded = []
    for table, table_days in days.items():
        for day in table_days:
            loaded.append(load_partition(client, ds, data_root, table, day, config))
            log.info("loaded %s dt=%s: %d rows", table, day, loaded[-1].rows)
    return loaded
