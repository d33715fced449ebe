"""From BigQuery to the features: a validated day of the raw tables exported as the contract's
parquet partitions (``<data_root>/raw/<table>/dt=D``), so the Spark feature jobs run unchanged.

The day is read with the BigQuery client's Arrow reads (REST pages: no Storage Read API, which
the emulator and a locked-down project may not offer), cast to the contract's exact types and
published with :func:`rankct.io.write_partition`: a partition is replaced in one atomic step with
its ``_SUCCESS`` marker, so a reader never sees half a day and an export run again gives the same
rows (ordered by every column, so the same bytes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from rankct.config import RankctConfig
from rankct.contract import TABLES, partition_path
from rankct.errors import DataContractError
from rankct.gcp.clients import bigquery_client, bigquery_retry, dataset_id
from rankct.gcp.raw_tables import PARTITION_COLUMN
from rankct.io import write_partition

if TYPE_CHECKING:
    from google.cloud import bigquery

    from rankct.quality.results import ValidationResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportedPartition:
    table: str
    day: date
    rows: int
    path: Path


def read_day(client: bigquery.Client, ds: str, table: str, day: date,
             config: RankctConfig) -> pa.Table:
    """Day ``day`` of ``table`` as an Arrow table with the contract's columns and types."""
    from google.cloud import bigquery

    columns = ", ".join(f"`{c}`" for c in TABLES[table].column_names)
    job = client.query(
        f"SELECT {columns} FROM `{ds}.{table}` WHERE {PARTITION_COLUMN} = @day ORDER BY {columns}",
        job_config=bigquery.QueryJobConfig(query_parameters=[
            bigquery.ScalarQueryParameter("day", "DATE", day)]),
        retry=bigquery_retry(config.gcp), job_retry=bigquery_retry(config.gcp))
    rows = job.result(retry=bigquery_retry(config.gcp),
                      timeout=config.gcp.request_timeout_seconds)
    data = rows.to_arrow(create_bqstorage_client=False)
    try:
        return data.cast(TABLES[table].schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataContractError(f"{ds}.{table} dt={day} does not cast to the contract ({exc})",
                                hint="run `rankct validate --profile gcp --date "
                                     f"{day}` first") from None


def export_day(day: date, config: RankctConfig, data_root: Path | str | None = None,
               client: bigquery.Client | None = None,
               validation: ValidationResult | None = None) -> list[ExportedPartition]:
    """Export every contract table's ``day`` from BigQuery to ``data_root`` (default
    ``config.data_root``). The day must have passed data gate 1: ``validation`` is its result,
    or the BigQuery gate runs first; a failed gate raises ``DataGateFailed`` and writes nothing.
    """
    from rankct.quality.bigquery import validate_bigquery
    from rankct.quality.gate import require_pass

    client = client or bigquery_client(config.gcp)
    require_pass(validation or validate_bigquery(day, config, client))
    data_root = Path(data_root or config.data_root)
    ds = dataset_id(config.gcp, client)
    present = {t.table_id for t in client.list_tables(ds, retry=bigquery_retry(config.gcp))}
    exported = []
    for table in TABLES:
        if table not in present:
            continue  # an optional table the dataset does not provide (the gate allowed it)
        data = read_day(client, ds, table, day, config)
        path = write_partition(data, partition_path(data_root, table, day))
        exported.append(ExportedPartition(table, day, data.num_rows, path))
        log.info("exported %s dt=%s: %d rows to %s", table, day, data.num_rows, path)
    return exported
