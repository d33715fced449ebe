"""`rankct bq load` on the BigQuery emulator: the contract's partitions land in day-partitioned
tables, a second load of the same days leaves the same rows, and `rankct validate --profile gcp`
runs the BigQuery gate from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
from rankct.contract import TABLES, partition_path
from rankct.errors import DataContractError
from rankct.gcp.clients import bigquery_client
from rankct.gcp.raw_tables import load_range
from rankct.quality.files import parquet_files

from tests.conftest import START

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
LAST = START + timedelta(days=4)


def _snapshot(cfg) -> dict[str, list[tuple]]:
    client = bigquery_client(cfg.gcp)
    ds = f"{cfg.gcp.project}.{cfg.gcp.dataset}"
    tables = {}
    for table in [*TABLES, cfg.gcp.partitions_table]:
        columns = (["table_name", "dt", "row_count"] if table == cfg.gcp.partitions_table
                   else [*TABLES[table].column_names, "dt"])
        listed = ", ".join(f"`{c}`" for c in columns)
        rows = client.query(f"SELECT {listed} FROM `{ds}.{table}`").result()
        tables[table] = sorted((tuple(r.values()) for r in rows), key=repr)
    return tables


def test_loading_twice_leaves_the_same_rows(bq_config, tiny_market) -> None:
    first = load_range(tiny_market, bq_config, LAST - timedelta(days=1), LAST)
    assert {p.table for p in first} == set(TABLES) and {p.day for p in first} == {
        LAST - timedelta(days=1), LAST}
    once = _snapshot(bq_config)
    for part in first:  # every row of the contract partition, nothing else
        files = parquet_files(partition_path(tiny_market, part.table, part.day))
        assert part.rows == sum(pq.read_metadata(f).num_rows for f in files) > 0
    assert len(once["impressions"]) == sum(p.rows for p in first if p.table == "impressions")
    load_range(tiny_market, bq_config, LAST, LAST)  # the last day again
    twice = _snapshot(bq_config)
    assert twice == once
    # One load record per table and day, however often the day was loaded.
    assert len(twice[bq_config.gcp.partitions_table]) == len(first)


def test_a_partition_outside_the_contract_is_refused_by_name(bq_config, tmp_path) -> None:
    from rankct.simulate import simulate

    simulate(tmp_path, days=1, scale="tiny", seed=3, start=START,
             faults={"renamed_column": "1"})
    with pytest.raises(DataContractError) as err:
        load_range(tmp_path, bq_config, tables=("impressions",))
    assert "raw/impressions/dt=2026-11-01: column item_id is missing" in str(err.value)
    assert "rankct validate" in str(err.value.hint)


def test_cli_loads_and_validates_on_the_gcp_profile(bq_config, tiny_market, tmp_path) -> None:
    env = {**os.environ, "RANKCT_HOME": str(tmp_path / "home"),
           "RANKCT__GCP__PROJECT": bq_config.gcp.project,
           "RANKCT__GCP__DATASET": bq_config.gcp.dataset,
           "RANKCT__GCP__BIGQUERY_ENDPOINT": bq_config.gcp.bigquery_endpoint,
           "RANKCT__GCP__RETRY_DEADLINE_SECONDS": "15"}
    cli = [sys.executable, "-m", "rankct.cli"]
    load = subprocess.run([*cli, "bq", "load", "--data-root", str(tiny_market), "--from",
                           str(START), "--to", str(LAST)], env=env, capture_output=True,
                          text=True, check=False)
    assert load.returncode == 0, load.stderr
    assert f"loaded 25 partitions into {bq_config.gcp.project}.{bq_config.gcp.dataset}" in load.stdout
    ok = subprocess.run([*cli, "validate", "--profile", "gcp", "--date", str(LAST)], env=env,
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"data gate for dt={LAST}: PASSED" in ok.stdout
    # A day that is not in the dataset: exit 3 and the rule that failed, no traceback.
    missing = subprocess.run([*cli, "validate", "--profile", "gcp", "--date",
                              str(LAST + timedelta(days=1))], env=env, capture_output=True,
                             text=True, check=False)
    assert missing.returncode == 3
    assert "rule=partition_exists" in missing.stdout and "Traceback" not in missing.stderr


def test_tables_without_load_records_are_present_but_not_complete(bq_config, tiny_market,
                                                                   tmp_path) -> None:
    from rankct.quality.bigquery import validate_bigquery

    load_range(tiny_market, bq_config, LAST, LAST)
    client = bigquery_client(bq_config.gcp)
    client.delete_table(f"{bq_config.gcp.project}.{bq_config.gcp.dataset}."
                        f"{bq_config.gcp.partitions_table}")
    result = validate_bigquery(LAST, bq_config, reports_dir=tmp_path)
    incomplete = {c.table: c for c in result.failures if c.rule == "partition_complete"}
    assert set(incomplete) == set(TABLES), result.summary()
    assert incomplete["impressions"].observed == "no load record in _rankct_partitions"
    assert "what to do:" in incomplete["impressions"].message
    # Nothing incomplete is judged on its content, as with a partition missing its _SUCCESS.
    assert {c.rule for c in result.checks if c.table == "events"} == {
        "partition_exists", "partition_complete", "content"}
