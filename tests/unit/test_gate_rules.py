"""Data gate 1's rules, declared once: their rendering to Spark SQL and BigQuery SQL, the
BigQuery type mapping, and the gcp profile's settings and clients (no service needed)."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest
from rankct.config import LabelConfig, QualityConfig, load_config
from rankct.contract import TABLES
from rankct.errors import DataContractError, RankctError
from rankct.quality.results import ValidationResult
from rankct.quality.rules import (
    Cmp,
    Col,
    Count,
    DateOf,
    IsNull,
    Lit,
    NotIn,
    PlusMinutes,
    day_specs,
    event_time_spec,
    reference_spec,
    table_spec,
)

DAY = date(2026, 11, 5)


@pytest.mark.parametrize(("expr", "spark", "bigquery"), [
    (IsNull(Col("user_id")), "`user_id` IS NULL", "`user_id` IS NULL"),
    (NotIn(Col("surface"), ("search", "feed")), "`surface` NOT IN ('search', 'feed')",
     "`surface` NOT IN ('search', 'feed')"),
    (Cmp(DateOf(Col("served_at")), "!=", Lit(DAY)), "to_date(`served_at`) != DATE '2026-11-05'",
     "DATE(`served_at`) != DATE '2026-11-05'"),
    (Cmp(Col("event_at"), ">", PlusMinutes(Col("served_at"), 120)),
     "`event_at` > `served_at` + INTERVAL 120 MINUTES",
     "`event_at` > TIMESTAMP_ADD(`served_at`, INTERVAL 120 MINUTE)"),
    (Cmp(Col("position"), "<", Lit(1)), "`position` < 1", "`position` < 1"),
])
def test_each_expression_renders_to_both_dialects(expr, spark, bigquery) -> None:
    assert expr.render("spark") == spark
    assert expr.render("bigquery") == bigquery


def test_a_string_literal_is_escaped() -> None:
    assert Lit("it's").render("bigquery") == "'it\\'s'"


def test_counts_render_as_aggregates() -> None:
    assert Count("rows").render("spark") == Count("rows").render("bigquery") == "COUNT(1)"
    bad = Count("bad", IsNull(Col("x")))
    assert bad.render("spark") == "SUM(CAST((`x` IS NULL) AS BIGINT))"
    assert bad.render("bigquery") == "COUNTIF(`x` IS NULL)"


def test_table_spec_counts_every_column_and_keys_the_contract() -> None:
    spec = table_spec("impressions", DAY, QualityConfig())
    names = [c.name for c in spec.counts]
    assert names[0] == "_rows" and set(TABLES["impressions"].column_names) <= set(names)
    assert {"_bad_surface", "_bad_position", "_off_date"} <= set(names)
    assert spec.unique_key == ("request_id", "item_id")
    assert "_future" in [c.name for c in table_spec("items", DAY, QualityConfig()).counts]


def test_record_turns_counts_into_the_gates_checks() -> None:
    spec = table_spec("events", DAY, QualityConfig())
    result = ValidationResult(date=DAY.isoformat(), data_root="x")
    row = {"_rows": 100, "_dups": 5, "_bad_type": 0, **dict.fromkeys(TABLES["events"].column_names, 0)}
    row["user_id"] = 2
    spec.record(result, row)
    failed = {(c.rule, c.column): c for c in result.failures}
    assert set(failed) == {("null_rate", "user_id"), ("unique_key",
                                                      "request_id,item_id,event_type,event_at")}
    assert failed[("null_rate", "user_id")].observed == pytest.approx(0.02)
    assert "2 of 100 rows are null" in failed[("null_rate", "user_id")].message


def test_cross_table_specs_declare_their_lookups() -> None:
    refs = reference_spec(DAY, QualityConfig())
    assert [(lk.table, lk.key, lk.history) for lk in refs.lookups] == [
        ("items", ("item_id",), True), ("users", ("user_id",), True)]
    events = event_time_spec(DAY, QualityConfig(), LabelConfig(attribution_window_minutes=30))
    late = next(c for c in events.counts if c.name == "late")
    assert "INTERVAL 30 MINUTE" in late.render("bigquery")
    assert [s.name for s in day_specs({"impressions"}, DAY, QualityConfig(), LabelConfig())] == [
        "impressions", "references"]


def test_bigquery_rendering_is_one_query_over_the_days_partition() -> None:
    from rankct.quality.bigquery import render_checks

    specs = day_specs(set(TABLES), DAY, QualityConfig(), LabelConfig())
    sql = render_checks(specs, "p.ds", "_rankct_partitions")
    assert sql.startswith("SELECT * FROM (") and sql.count(" CROSS JOIN ") >= len(specs) - 1
    assert "`p.ds.impressions` WHERE dt = @day" in sql
    # Change logs are read up to the day, only where a load record says the day is complete.
    assert "`p.ds.items` WHERE dt <= @day AND dt IN (SELECT dt FROM `p.ds._rankct_partitions`" in sql
    assert "COUNTIF(`_i` IS NULL) AS `references__unknown_items`" in sql
    assert "GROUP BY `request_id`, `item_id`, `event_type`, `event_at`" in sql


@pytest.mark.parametrize(("bq_type", "expected", "ok"), [
    ("INT64", pa.int32(), True), ("INT64", pa.int64(), True), ("STRING", pa.float64(), False),
    ("FLOAT64", pa.float64(), True), ("TIMESTAMP", pa.timestamp("us", tz="UTC"), True),
    ("DATE", pa.timestamp("us", tz="UTC"), False), ("NUMERIC", pa.float64(), False),
])
def test_bigquery_types_against_the_contract(bq_type, expected, ok) -> None:
    from rankct.quality.bigquery import ARROW_TYPES, bigquery_compatible

    assert bigquery_compatible(ARROW_TYPES.get(bq_type, bq_type), expected) is ok


def test_contract_tables_in_bigquery_are_nullable_and_day_partitioned() -> None:
    from rankct.gcp.raw_tables import bigquery_type, table_schema

    fields = table_schema("items")
    assert [f.name for f in fields] == [*TABLES["items"].column_names, "dt"]
    assert {f.mode for f in fields[:-1]} == {"NULLABLE"} and fields[-1].field_type == "DATE"
    assert bigquery_type(pa.int32()) == "INT64" and bigquery_type(pa.string()) == "STRING"


def test_a_partition_missing_a_column_is_refused(tmp_path) -> None:
    import pyarrow.parquet as pq
    from rankct.gcp.raw_tables import partition_table

    folder = tmp_path / "raw" / "users" / f"dt={DAY}"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"user_id": [1], "country": ["fr"]}), folder / "part-0.parquet")
    with pytest.raises(DataContractError, match="column signup_at is missing"):
        partition_table(tmp_path, "users", DAY)


def test_gcp_profile_and_overrides() -> None:
    cfg = load_config("gcp", environ={"RANKCT__GCP__DATASET": "raw_logs"})
    assert cfg.profile == "gcp" and cfg.gcp.raw_store == "bigquery"
    assert cfg.gcp.dataset == "raw_logs" and cfg.gcp.bigquery_endpoint == ""
    assert load_config("local", environ={}).gcp.raw_store == "files"


def test_clients_use_anonymous_credentials_only_with_an_endpoint() -> None:
    from google.auth.credentials import AnonymousCredentials
    from rankct.gcp.clients import bigquery_client, storage_client
    from rankct.gcp.settings import GcpConfig

    gcp = GcpConfig(project="p", bigquery_endpoint="http://127.0.0.1:1",
                    storage_endpoint="http://127.0.0.1:2")
    bq = bigquery_client(gcp)
    assert isinstance(bq._credentials, AnonymousCredentials)
    assert bq._connection.API_BASE_URL == "http://127.0.0.1:1"
    gcs = storage_client(gcp)
    assert isinstance(gcs._credentials, AnonymousCredentials)
    assert gcs._connection.API_BASE_URL == "http://127.0.0.1:2"


def test_missing_emulator_environment_names_the_make_target(monkeypatch, tmp_path) -> None:
    from rankct.gcp import emulators

    monkeypatch.setenv("RANKCT_GCP_PYTHON", str(tmp_path / "nothing" / "python"))
    with pytest.raises(RankctError) as err:
        emulators.emulator_python()
    assert "make setup-gcp" in str(err.value)


@pytest.mark.parametrize("command", [["gcp"], ["gcp", "emulators"], ["bq"], ["bq", "load"],
                                     ["bq", "export"]])
def test_gcp_commands_have_help(command, capsys) -> None:
    from rankct.cli import build_parser

    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*command, "--help"])
    assert exit_.value.code == 0 and "usage: rankct" in capsys.readouterr().out


def test_gcp_profile_keeps_mlflow_artifacts_on_cloud_storage(tmp_path, monkeypatch) -> None:
    from rankct.registry.store import resolve_uris

    monkeypatch.delenv("RANKCT_MLFLOW_ARTIFACTS", raising=False)
    cfg = load_config("gcp", environ={"RANKCT_HOME": str(tmp_path)})
    assert resolve_uris(cfg)[2] == "gs://rankct-artifacts/mlflow"
    # The root is expanded from the environment when the store opens.
    monkeypatch.setenv("RANKCT_MLFLOW_ARTIFACTS", "gs://mine/ml")
    assert resolve_uris(cfg)[2] == "gs://mine/ml"


def test_gcp_profile_feast_store_is_redis(tmp_path, monkeypatch) -> None:
    from rankct.online.feast_repo import store_settings

    monkeypatch.setenv("RANKCT_REDIS", "10.0.0.3:6379")
    cfg = load_config("gcp", environ={"RANKCT_HOME": str(tmp_path)})
    settings = store_settings(cfg)
    assert settings["online_store"] == {"type": "redis", "connection_string": "10.0.0.3:6379"}
    assert settings["registry"] == f"{cfg.home}/feast/registry.db"
