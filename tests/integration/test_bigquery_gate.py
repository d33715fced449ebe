"""Data gate 1 as BigQuery jobs, on the BigQuery emulator, against the Spark gate on the same
days: a clean day passes on both, each planted fault fails on both with the same message, and
every rule agrees (passed, observed, threshold, message) between the two engines."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rankct.contract import TABLES, list_partitions, partition_path
from rankct.gcp.clients import bigquery_client
from rankct.gcp.raw_tables import PARTITION_COLUMN, bigquery_type, load_range, write_record
from rankct.quality.bigquery import validate_bigquery
from rankct.quality.files import parquet_files
from rankct.quality.gate import validate_partition
from rankct.simulate import simulate

from tests.conftest import START

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
DAY = START + timedelta(days=4)  # four clean days before it, for the volume band
# Rules about parquet files that have no BigQuery counterpart (a table is always readable).
FILE_ONLY_RULES = {"readable"}

EXPECTED = {
    "null_keys": ("impressions", "null_rate", "user_id"),
    "duplicate_events": ("events", "unique_key", "request_id,item_id,event_type,event_at"),
    "missing_day": ("impressions", "partition_exists", None),
    "dropped_column": ("impressions", "schema_column", "surface"),
    "renamed_column": ("impressions", "schema_column", "item_id"),
    "retyped_column": ("items", "schema_type", "price"),
    "events_before_impression": ("events", "event_after_impression", "event_at"),
    "volume_drop": ("impressions", "volume_band", None),
    "orphan_items": ("impressions", "known_items", "item_id"),
}
SCHEMA_FAULTS = {"dropped_column": "impressions", "renamed_column": "impressions",
                 "retyped_column": "items"}


def _key(check) -> tuple:
    return (check.table, check.rule, check.column, check.partition)


def assert_same_results(spark_result, bq_result) -> None:
    """Rule by rule: the same checks, verdicts, observed values, thresholds and messages. Only
    a missing partition's detail differs: it names where the data was looked for."""
    spark = {_key(c): c for c in spark_result.checks if c.rule not in FILE_ONLY_RULES}
    bq = {_key(c): c for c in bq_result.checks}
    assert set(bq) == set(spark), (sorted(set(bq) ^ set(spark)), bq_result.summary())
    for key, expected in spark.items():
        got = bq[key]
        assert (got.passed, got.skipped) == (expected.passed, expected.skipped), key
        if isinstance(expected.observed, float):
            assert math.isclose(got.observed, expected.observed, rel_tol=1e-9), key
        if key[1] == "partition_exists" and not expected.passed:
            assert got.observed == expected.observed and got.threshold == expected.threshold
        else:
            assert got.message == expected.message, key
    assert bq_result.passed == spark_result.passed


def _copy_days_before(cfg, base, day) -> None:
    """The base dataset's days before ``day`` (and their load records) copied into the test's
    dataset: the faults change only their own day, so the clean days are loaded once."""
    from google.cloud import bigquery

    client = bigquery_client(cfg.gcp)
    ds = f"{cfg.gcp.project}.{cfg.gcp.dataset}"
    client.create_dataset(ds, exists_ok=True)
    params = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter("day", "DATE", day)])
    for table in TABLES:
        client.query(f"CREATE TABLE `{ds}.{table}` PARTITION BY {PARTITION_COLUMN} AS SELECT * "
                     f"FROM `{base}.{table}` WHERE {PARTITION_COLUMN} < @day",
                     job_config=params).result()
    record = cfg.gcp.partitions_table
    client.query(f"CREATE TABLE `{ds}.{record}` AS SELECT * FROM `{base}.{record}` "
                 f"WHERE {PARTITION_COLUMN} < @day", job_config=params).result()


def _plant_schema(cfg, root: Path, table: str, day) -> None:
    """Upstream schema drift: the BigQuery table takes the columns of ``day``'s files (renamed,
    retyped or dropped), and every day is loaded in that shape."""
    from google.cloud import bigquery

    client = bigquery_client(cfg.gcp)
    ds = f"{cfg.gcp.project}.{cfg.gcp.dataset}"
    drifted = pq.read_schema(parquet_files(partition_path(root, table, day))[0])
    schema = [bigquery.SchemaField(f.name, bigquery_type(f.type)) for f in drifted]
    schema.append(bigquery.SchemaField(PARTITION_COLUMN, "DATE"))
    client.delete_table(f"{ds}.{table}", not_found_ok=True)
    spec = bigquery.Table(f"{ds}.{table}", schema=schema)
    spec.time_partitioning = bigquery.TimePartitioning(field=PARTITION_COLUMN)
    client.create_table(spec)
    client.query(f"DELETE FROM `{ds}.{cfg.gcp.partitions_table}` WHERE table_name = "
                 f"'{table}'").result()
    for d in list_partitions(root, table):
        data = pa.concat_tables(pq.read_table(f) for f in parquet_files(partition_path(root, table, d)))
        if data.num_columns == len(drifted):
            data = data.rename_columns(drifted.names)
        data = data.select(drifted.names).cast(drifted)
        data = data.append_column(PARTITION_COLUMN, pa.array([d] * data.num_rows, pa.date32()))
        sink = pa.BufferOutputStream()
        pq.write_table(data, sink)
        job_config = bigquery.LoadJobConfig(source_format="PARQUET", schema=schema)
        client.load_table_from_file(pa.BufferReader(sink.getvalue()), f"{ds}.{table}",
                                    job_config=job_config).result()
        write_record(client, ds, table, d, data.num_rows, cfg)


@pytest.fixture(scope="module")
def bq_base(gcp_emulators, tiny_market, config):
    """The tiny marketplace's five clean days loaded once into a dataset of the module's own."""
    cfg = config.model_copy(deep=True)
    cfg.gcp = cfg.gcp.model_copy(update={
        "project": gcp_emulators.project, "dataset": "base_tiny",
        "bigquery_endpoint": gcp_emulators.url("bigquery"), "raw_store": "bigquery",
        "retry_deadline_seconds": 15.0})
    load_range(tiny_market, cfg)
    yield f"{cfg.gcp.project}.{cfg.gcp.dataset}"
    bigquery_client(cfg.gcp).delete_dataset(f"{cfg.gcp.project}.{cfg.gcp.dataset}",
                                            delete_contents=True, not_found_ok=True)


def test_clean_day_passes_on_both_engines_rule_by_rule(bq_base, bq_config, tiny_market, config,
                                                       spark, tmp_path) -> None:
    _copy_days_before(bq_config, bq_base, DAY + timedelta(days=1))
    bq = validate_bigquery(DAY, bq_config, reports_dir=tmp_path / "bq")
    assert bq.passed, bq.summary()
    assert bq.data_root == f"bigquery://{bq_config.gcp.project}.{bq_config.gcp.dataset}"
    assert Path(bq.result_json).exists()
    # Columns, partitions, the report's sample, every content rule in one query (linked).
    assert len(bq.jobs) == 4
    rules = {c.rule for c in bq.checks}
    assert {"schema", "null_rate", "unique_key", "known_items", "known_users",
            "event_after_impression", "event_in_window", "volume_band",
            "partition_complete"} <= rules
    assert not any(c.skipped for c in bq.checks if c.rule == "volume_band")
    on_spark = validate_partition(tiny_market, DAY, config, spark, reports_dir=tmp_path / "spark")
    assert_same_results(on_spark, bq)
    # The same Evidently data summary as the Spark gate: the day's impressions with their
    # events (the tiny day is under the sample bound: every row), the same columns.
    metrics = [json.loads(Path(r.report_json).read_text())["metrics"] for r in (bq, on_spark)]
    assert Path(bq.report_html).parent == Path(bq.result_json).parent
    names = [sorted(m["metric_name"] for m in each) for each in metrics]
    assert names[0] == names[1]
    rows = [next(m["value"] for m in each if m["metric_name"].startswith("RowCount"))
            for each in metrics]
    assert rows[0] == rows[1] > 1000, rows


def _drop_column(root: Path, table: str, column: str, day) -> None:
    for file in parquet_files(partition_path(root, table, day)):
        data = pq.read_table(file)
        pq.write_table(data.drop_columns([column]), file)


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_each_planted_fault_fails_both_engines_with_the_same_message(
        fault, bq_base, bq_config, config, spark, tmp_path) -> None:
    root = tmp_path / "data"
    injected = {} if fault == "dropped_column" else {fault: "5"}
    simulate(root, days=5, scale="tiny", seed=11, start=START, faults=injected)
    if fault == "dropped_column":
        _drop_column(root, "impressions", "surface", DAY)
    _copy_days_before(bq_config, bq_base, DAY)
    schema_table = SCHEMA_FAULTS.get(fault)
    load_range(root, bq_config, DAY, DAY,
               tables=tuple(t for t in TABLES if t != schema_table))
    if schema_table:
        _plant_schema(bq_config, root, schema_table, DAY)
    bq = validate_bigquery(DAY, bq_config, reports_dir=tmp_path / "bq")
    on_spark = validate_partition(root, DAY, config, spark, reports_dir=tmp_path / "spark")
    assert not bq.passed and not on_spark.passed
    assert (bq.report_html is None) == (on_spark.report_html is None)  # a report where Spark's
    failed = {(c.table, c.rule, c.column): c for c in bq.failures}
    assert EXPECTED[fault] in failed, bq.summary()
    message = failed[EXPECTED[fault]].message
    assert f"dt={DAY}" in message and "what to do:" in message
    assert_same_results(on_spark, bq)
