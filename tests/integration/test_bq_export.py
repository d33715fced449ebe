"""A validated day from BigQuery (the emulator) back to the contract's parquet partitions: the
same rows as were loaded, published atomically, the same bytes when exported again, nothing
written for a day the gate fails, and the Spark gate passes on what was exported."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rankct.contract import TABLES, partition_path
from rankct.errors import DataGateFailed
from rankct.gcp.export import export_day
from rankct.gcp.raw_tables import load_range
from rankct.quality.files import parquet_files
from rankct.quality.gate import validate_partition

from tests.conftest import START

# Generous: on a loaded 2-core machine the Spark session and emulators take minutes to start.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
DAYS = [START + timedelta(days=i) for i in range(5)]


def _rows(root, table, day) -> pa.Table:
    data = pa.concat_tables(pq.read_table(f) for f in parquet_files(partition_path(root, table, day)))
    return data.sort_by([(c, "ascending") for c in data.column_names])


def _digest(root, table, day) -> str:
    return hashlib.sha256(b"".join(f.read_bytes() for f in parquet_files(
        partition_path(root, table, day)))).hexdigest()


def test_exported_days_are_the_loaded_rows_and_pass_the_spark_gate(
        bq_config, tiny_market, config, spark, tmp_path) -> None:
    load_range(tiny_market, bq_config)
    out = tmp_path / "offline"
    for day in DAYS:
        exported = export_day(day, bq_config, out)
        assert {p.table for p in exported} == set(TABLES)
    for table in TABLES:
        for day in DAYS:
            got = _rows(out, table, day)
            assert got.schema.equals(TABLES[table].schema), (table, got.schema)
            assert got.equals(_rows(tiny_market, table, day).cast(TABLES[table].schema)), (
                table, day)
            assert (partition_path(out, table, day) / "_SUCCESS").exists()
    before = {t: _digest(out, t, DAYS[-1]) for t in TABLES}
    export_day(DAYS[-1], bq_config, out)  # again: the same partitions, byte for byte
    assert {t: _digest(out, t, DAYS[-1]) for t in TABLES} == before
    result = validate_partition(out, DAYS[-1], config, spark, reports_dir=tmp_path / "reports")
    assert result.passed, result.summary()


def test_a_day_failing_the_gate_is_not_exported(bq_config, tiny_market, tmp_path) -> None:
    load_range(tiny_market, bq_config, DAYS[0], DAYS[-1])
    missing = DAYS[-1] + timedelta(days=1)
    with pytest.raises(DataGateFailed) as err:
        export_day(missing, bq_config, tmp_path / "offline")
    assert "partition_exists" in str(err.value)
    assert not (tmp_path / "offline").exists()


def test_the_daily_gate_on_bigquery_exports_the_day_and_links_its_jobs(
        bq_config, tiny_market, tmp_path) -> None:
    """The training DAG's validate_raw_data on a profile with raw tables in BigQuery."""
    from rankct.pipeline.prepare import validate_raw

    load_range(tiny_market, bq_config, DAYS[-1] - timedelta(days=7), DAYS[-1])
    cfg = bq_config.model_copy(deep=True)
    cfg.home = tmp_path / "home"
    summary = validate_raw(cfg, DAYS[-1])
    assert summary["passed"] and len(summary["bigquery_jobs"]) == 4
    assert summary["bigquery_jobs"][-1] in summary["bigquery_url"]
    assert (partition_path(cfg.data_root, "impressions", DAYS[-1]) / "_SUCCESS").exists()
