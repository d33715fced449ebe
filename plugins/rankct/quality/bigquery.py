"""Data gate 1 in BigQuery: the rules of :mod:`rankct.quality.rules` as BigQuery jobs, before
any data leaves BigQuery.

Four query jobs a day: the tables' columns (``INFORMATION_SCHEMA.COLUMNS``), the row counts of
the day and the trailing days beside their load records (partition present, complete, volume),
a bounded sample of the day for the Evidently data summary the Spark gate also writes, and every
content rule set rendered to one subquery, cross-joined into a single one-row result (as the
Spark engine collects them in one action). The same ``record`` functions turn the counts into
the same check results, JSON and failure text as the Spark gate.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rankct.config import RankctConfig, load_config
from rankct.contract import TABLES
from rankct.gcp.clients import bigquery_client, bigquery_retry, dataset_id
from rankct.gcp.raw_tables import PARTITION_COLUMN
from rankct.io import write_json_atomic
from rankct.quality.files import compatible
from rankct.quality.gate import OPTIONAL_TABLES, gate_dir
from rankct.quality.layout import check_schema, check_volume, content_not_run, optional_missing
from rankct.quality.results import CheckResult, ValidationResult
from rankct.quality.rules import Lookup, RuleSpec, day_specs

if TYPE_CHECKING:
    import pandas as pd
    from google.cloud import bigquery

log = logging.getLogger(__name__)

# INFORMATION_SCHEMA's type names as Arrow types, so the schema rule compares like the Spark
# engine (whose types come from parquet footers) and names types the same way in its messages.
ARROW_TYPES = {"STRING": pa.string(), "INT64": pa.int64(), "FLOAT64": pa.float64(),
               "BOOL": pa.bool_(), "TIMESTAMP": pa.timestamp("us", tz="UTC"),
               "DATETIME": pa.timestamp("us"), "DATE": pa.date32(), "BYTES": pa.binary()}


def bigquery_compatible(actual: Any, expected: pa.DataType) -> bool:
    """A BigQuery column type satisfying the contract's type. BigQuery has one integer type,
    INT64, so it holds every contract integer; the rest compares as for parquet files."""
    if not isinstance(actual, pa.DataType):
        return False  # a BigQuery type with no Arrow counterpart (STRUCT, NUMERIC, ...)
    if pa.types.is_integer(expected):
        return pa.types.is_integer(actual)
    return compatible(actual, expected)


def _source(ds: str, table: str, columns: list[str] | tuple[str, ...], history: bool,
            record: str) -> str:
    listed = ", ".join(f"`{c}`" for c in columns)
    if not history:
        return f"SELECT {listed} FROM `{ds}.{table}` WHERE {PARTITION_COLUMN} = @day"
    # A change log's complete partitions up to the day, as the Spark engine reads them.
    return (f"SELECT {listed} FROM `{ds}.{table}` WHERE {PARTITION_COLUMN} <= @day AND "
            f"{PARTITION_COLUMN} IN (SELECT {PARTITION_COLUMN} FROM `{ds}.{record}` "
            f"WHERE table_name = '{table}')")


def _lookup_sql(lookup: Lookup, ds: str, record: str) -> str:
    keys = ", ".join(f"`{k}`" for k in lookup.key)
    earliest = "".join(f"MIN(`{column}`) AS `{alias}`, " for alias, column in lookup.earliest)
    source = _source(ds, lookup.table, lookup.columns, lookup.history, record)
    return f"SELECT {keys}, {earliest}TRUE AS `{lookup.flag}` FROM ({source}) GROUP BY {keys}"


def render_spec(spec: RuleSpec, ds: str, record: str) -> list[str]:
    """``spec`` as one-row BigQuery subqueries, columns ``<name>__<count>``."""
    counts = ", ".join(f"{c.render('bigquery')} AS `{spec.name}__{c.name}`" for c in spec.counts)
    sql = f"SELECT {counts} FROM ({_source(ds, spec.base, spec.columns, False, record)}) AS b"
    for i, lookup in enumerate(spec.lookups):
        keys = ", ".join(f"`{k}`" for k in lookup.key)
        sql += f" LEFT JOIN ({_lookup_sql(lookup, ds, record)}) AS l{i} USING ({keys})"
    parts = [sql]
    if spec.unique_key:
        # Rows beyond the first of each key (a null key counts as one key, as in GROUP BY).
        keys = ", ".join(f"`{k}`" for k in spec.unique_key)
        parts.append(f"SELECT COALESCE(SUM(n - 1), 0) AS `{spec.name}___dups` FROM "
                     f"(SELECT COUNT(1) AS n FROM `{ds}.{spec.base}` "
                     f"WHERE {PARTITION_COLUMN} = @day GROUP BY {keys})")
    return parts


def render_checks(specs: list[RuleSpec], ds: str, record: str) -> str:
    """Every rule set of a day as one query returning one row."""
    subqueries = [sql for spec in specs for sql in render_spec(spec, ds, record)]
    return "SELECT * FROM " + " CROSS JOIN ".join(
        f"({sql}) AS s{i}" for i, sql in enumerate(subqueries))


class _Jobs:
    """Runs the gate's queries with the configured retry deadline; remembers their job ids."""

    def __init__(self, client: bigquery.Client, config: RankctConfig, day: date) -> None:
        self.client, self.config, self.day, self.ids = client, config, day, []

    def rows(self, sql: str, **dates: date) -> list[dict[str, Any]]:
        from google.cloud import bigquery

        # Only the parameters the query names: an unused one is an error on some servers.
        params = [bigquery.ScalarQueryParameter(k, "DATE", v)
                  for k, v in {"day": self.day, **dates}.items() if f"@{k}" in sql]
        retry = bigquery_retry(self.config.gcp)
        job = self.client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params),
                                retry=retry, job_retry=retry)
        result = job.result(retry=retry, timeout=self.config.gcp.request_timeout_seconds)
        self.ids.append(job.job_id)
        return [dict(row.items()) for row in result]

    def frame(self, sql: str) -> pd.DataFrame:
        """A query's rows as a DataFrame, read as Arrow (no BigQuery Storage API needed)."""
        from google.cloud import bigquery

        retry = bigquery_retry(self.config.gcp)
        params = [bigquery.ScalarQueryParameter("day", "DATE", self.day)]
        job = self.client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params),
                                retry=retry, job_retry=retry)
        rows = job.result(retry=retry, timeout=self.config.gcp.request_timeout_seconds)
        self.ids.append(job.job_id)
        return rows.to_arrow(create_bqstorage_client=False).to_pandas()


def validate_bigquery(day: date, config: RankctConfig | None = None,
                      client: bigquery.Client | None = None,
                      reports_dir: Path | str | None = None) -> ValidationResult:
    """Data gate 1 on day ``day`` of the raw tables in ``gcp.dataset``; writes ``result.json``
    where the Spark gate does and returns the result (``require_pass`` raises on a failure)."""
    config = config or load_config()
    client = client or bigquery_client(config.gcp)
    ds, record = dataset_id(config.gcp, client), config.gcp.partitions_table
    jobs = _Jobs(client, config, day)
    result = ValidationResult(date=day.isoformat(), data_root=f"bigquery://{ds}")
    columns = _columns(jobs, ds, record)
    first = day - timedelta(days=config.quality.volume_history_days)
    counts = _partition_counts(jobs, ds, record, set(columns), first)
    usable = _partition_checks(result, ds, record, columns, counts, day)
    # Before the rules' query, which stays the last job: the one the task links.
    sample = _report_sample(jobs, ds, usable, columns, counts, config.quality.report_sample_rows)
    specs = day_specs(usable, day, config.quality, config.labels)
    if specs:
        row = jobs.rows(render_checks(specs, ds, record))[0]
        for spec in specs:
            prefix = f"{spec.name}__"
            spec.record(result, {k[len(prefix):]: v for k, v in row.items()
                                 if k.startswith(prefix)})
    if "impressions" in columns and _exists(counts, "impressions", day):
        history = {}
        for back in range(1, config.quality.volume_history_days + 1):
            previous = day - timedelta(days=back)
            if ("record", "impressions", previous) in counts:  # complete days only, as on files
                history[previous] = counts.get(("rows", "impressions", previous), 0)
        check_volume(result, counts.get(("rows", "impressions", day), 0), history, day,
                     config.quality)
    out = gate_dir(reports_dir or config.reports_dir, day)
    if sample is not None:  # the same Evidently data summary as the Spark gate's
        from rankct.reports.data_summary import data_summary_report

        html, js = data_summary_report(sample, out)
        result.report_html, result.report_json = str(html), str(js)
    result.jobs = list(jobs.ids)
    result.result_json = str(write_json_atomic(out / "result.json", result.to_dict()))
    log.info("%s (BigQuery jobs %s)", result.summary(), ", ".join(jobs.ids))
    return result


def _report_sample(jobs: _Jobs, ds: str, usable: set[str], columns: dict[str, dict[str, Any]],
                   counts: dict[tuple[str, str, date], int], max_rows: int
                   ) -> pd.DataFrame | None:
    """A bounded random sample of the day for the report, as the Spark gate takes it: the
    impressions with their number of events when both tables are usable, else the first usable
    table's rows."""
    table = "impressions" if "impressions" in usable else next(
        (t for t in TABLES if t in usable), None)
    if table is None:
        return None
    rows = counts.get(("rows", table, jobs.day), 0)
    listed = ", ".join(f"b.`{c}`" for c in columns[table])
    sql = f"SELECT {listed}"
    source = f"`{ds}.{table}` AS b"
    if table == "impressions" and "events" in usable:
        sql += ", COALESCE(e.events, 0) AS events"
        source += (f" LEFT JOIN (SELECT request_id, item_id, COUNT(1) AS events FROM "
                   f"`{ds}.events` WHERE {PARTITION_COLUMN} = @day GROUP BY request_id, "
                   "item_id) AS e USING (request_id, item_id)")
    sql += f" FROM {source} WHERE b.{PARTITION_COLUMN} = @day"
    if rows > max_rows:
        sql += f" AND RAND() < {min(1.0, 1.2 * max_rows / rows):.6f}"
    return jobs.frame(f"{sql} LIMIT {max_rows}")


def _exists(counts: dict[tuple[str, str, date], int], table: str, day: date) -> bool:
    """A day is present when it has rows or a load record (a recorded day may be empty)."""
    return counts.get(("rows", table, day), 0) > 0 or ("record", table, day) in counts


def _columns(jobs: _Jobs, ds: str, record: str) -> dict[str, dict[str, Any]]:
    """Each contract table present in the dataset with its columns' types (Arrow where known),
    and, under ``record``, the load record's columns when that table exists."""
    from google.api_core.exceptions import NotFound

    try:
        rows = jobs.rows(f"SELECT table_name, column_name, data_type FROM "
                         f"`{ds}`.INFORMATION_SCHEMA.COLUMNS ORDER BY table_name, "
                         f"ordinal_position")
    except NotFound:
        return {}  # no dataset: every table is missing
    tables: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["table_name"] in (*TABLES, record) and row["column_name"] != PARTITION_COLUMN:
            tables.setdefault(row["table_name"], {})[row["column_name"]] = ARROW_TYPES.get(
                row["data_type"], row["data_type"])
    return tables


def _partition_counts(jobs: _Jobs, ds: str, record: str, present: set[str],
                      first: date) -> dict[tuple[str, str, date], int]:
    """Rows per (table, day) and the load records' row counts, keyed ("rows"|"record", t, d)."""
    selects = []
    for table in sorted(present & set(TABLES)):
        days = "BETWEEN @first AND @day" if table == "impressions" else "= @day"
        selects.append(f"SELECT 'rows' AS source, '{table}' AS table_name, {PARTITION_COLUMN} "
                       f"AS dt, COUNT(1) AS n FROM `{ds}.{table}` WHERE {PARTITION_COLUMN} "
                       f"{days} GROUP BY {PARTITION_COLUMN}")
    if not selects:
        return {}
    if record in present:  # without it no day is known complete (tables filled by others)
        selects.append(f"SELECT 'record' AS source, table_name, {PARTITION_COLUMN} AS dt, "
                       f"row_count AS n FROM `{ds}.{record}` WHERE {PARTITION_COLUMN} "
                       f"BETWEEN @first AND @day")
    rows = jobs.rows(" UNION ALL ".join(selects), first=first)
    return {(r["source"], r["table_name"], r["dt"]): int(r["n"]) for r in rows}


def _partition_checks(result: ValidationResult, ds: str, record: str,
                      columns: dict[str, dict[str, Any]],
                      counts: dict[tuple[str, str, date], int], day: date) -> set[str]:
    """Present, complete and shaped like the contract, per table; returns the usable tables."""
    where, usable = f"dt={day.isoformat()}", set()
    for table in TABLES:
        if table not in columns:
            if table in OPTIONAL_TABLES:
                optional_missing(result, table, where)
            else:
                result.add(CheckResult(table, "partition_exists", where, False,
                                       observed="missing", detail=f"no table {ds}.{table}"))
            continue
        rows = counts.get(("rows", table, day), 0)
        loaded = counts.get(("record", table, day))
        if not _exists(counts, table, day):
            result.add(CheckResult(table, "partition_exists", where, False, observed="missing",
                                   detail=f"no rows of {where} in {ds}.{table}"))
            continue
        result.add(CheckResult(table, "partition_exists", where, True))
        complete = loaded == rows
        observed = (None if complete else f"no load record in {record}" if loaded is None
                    else f"load record says {loaded} rows, the table holds {rows}")
        result.add(CheckResult(table, "partition_complete", where, complete, observed=observed))
        if complete and check_schema(result, table, where, columns[table], bigquery_compatible):
            usable.add(table)
        elif rows:
            content_not_run(result, table, day)
    return usable
