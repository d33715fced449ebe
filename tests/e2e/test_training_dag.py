"""The whole loop through Airflow: the training DAG for three days (one with damaged data), then
the batch-scoring and monitoring DAGs, each a real `airflow dags test` run; then the registry,
aliases, reports, links, scores and alerts they left."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.conftest import BAD_DAY, DAYS, training_days

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _airflow_db(e2e) -> sqlite3.Connection:
    uri = e2e.report.days[0][0].log.parents[1] / "airflow.db"
    return sqlite3.connect(uri)


def test_each_day_ends_where_it_should(end_to_end) -> None:
    outcomes = training_days(end_to_end)
    assert outcomes[DAYS[3]]["state"] == "promoted" and outcomes[DAYS[3]]["version"] == "1"
    assert outcomes[BAD_DAY]["state"] == "stopped at data gate 1"
    assert "events" in outcomes[BAD_DAY]["detail"]
    assert outcomes[DAYS[5]]["state"] in ("promoted", "rejected")
    states = {result.day: result.state for result, _ in end_to_end.report.days}
    assert states == {DAYS[3]: "success", BAD_DAY: "failed", DAYS[5]: "success"}


def test_the_bad_day_stopped_at_the_data_gate_and_nothing_after_it_ran(end_to_end) -> None:
    result = next(r for r, _ in end_to_end.report.days if r.day == BAD_DAY)
    tasks = {t.task_id: t.state for t in result.tasks}
    assert tasks["validate_raw_data"] == "failed"
    assert all(state == "upstream_failed" for task, state in tasks.items()
               if task not in ("validate_raw_data",))
    # Failed once, without retries: a gate's verdict does not change on a second try.
    connection = _airflow_db(end_to_end)
    tries = connection.execute("SELECT try_number FROM task_instance WHERE run_id = ? AND "
                               "task_id = 'validate_raw_data'", (result.run_id,)).fetchone()[0]
    assert tries == 1
    alerts = [json.loads(p.read_text())
              for p in (end_to_end.config.home / "alerts").glob("*.json")]
    gate_alerts = [a for a in alerts if a["source"].endswith("validate_raw_data")]
    assert gate_alerts and gate_alerts[0]["day"] == BAD_DAY.isoformat()
    assert "events" in gate_alerts[0]["message"] and "/tasks/validate_raw_data" in \
        gate_alerts[0]["links"]["log"]


def test_registry_aliases_tags_and_decision_records(end_to_end) -> None:
    from rankct.registry import alias_version, list_versions, open_store

    cfg = end_to_end.config
    store = open_store(cfg)
    outcomes = training_days(end_to_end)
    versions = {v.version: v for v in list_versions(store)}
    assert set(versions) == {"1", "2"}  # the bad day trained nothing
    assert alias_version(store, "challenger") == "2"
    last = outcomes[DAYS[5]]
    if last["state"] == "promoted":
        assert alias_version(store, "champion") == "2"
        assert alias_version(store, "previous_champion") == "1"
        assert versions["2"].decision == "passed"
    else:
        assert alias_version(store, "champion") == "1"
        assert versions["2"].decision == "rejected" and versions["2"].reasons
    assert versions["1"].decision == "passed"
    tags = store.client.get_model_version(store.model_name, "1").tags
    assert tags["airflow_run_id"].startswith("manual__") and tags["onnx_sha256"]
    for version in ("1", "2"):
        record = cfg.reports_dir / "model_gate" / store.model_name / f"v{version}" / \
            "decision.json"
        assert {c["name"] for c in json.loads(record.read_text())["checks"]} >= {
            "ndcg_floor", "onnx_parity", "data_gate_2", "logging_baseline"}
    bundle = cfg.home / "exports" / store.model_name / "1"
    assert (bundle / "model.onnx").exists() and any(bundle.rglob("config.pbtxt"))


def test_reports_are_in_the_evidently_workspace_and_linked_from_tasks(end_to_end) -> None:
    cfg = end_to_end.config
    index = [json.loads(p.read_text())
             for p in (cfg.home / "evidently" / "rankct_index").glob("*.json")]
    sources = " ".join(entry["source"] for entry in index)
    assert "data_gate" in sources and "ranking" in sources
    for entry in index:
        snapshot = cfg.home / "evidently" / entry["project_id"] / "snapshots" / \
            f"{entry['snapshot_id']}.json"
        assert snapshot.exists(), entry
    first = next(r for r, _ in end_to_end.report.days if r.day == DAYS[3])
    links = dict(_airflow_db(end_to_end).execute(
        "SELECT task_id || ':' || key, value FROM xcom WHERE run_id = ? AND key LIKE "
        "'rankct_link_%'", (first.run_id,)).fetchall())
    assert json.loads(links["train:rankct_link_mlflow_url"]).startswith(
        cfg.ui.mlflow_url + "/#/experiments/")
    assert "/projects/" in json.loads(links["evaluate:rankct_link_report_url"])
    assert "/artifacts/gate/decision.json" in json.loads(links["gate:rankct_link_decision_url"])


def test_promotion_emitted_the_champion_asset(end_to_end) -> None:
    rows = _airflow_db(end_to_end).execute(
        "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
        "WHERE a.name = 'rankct_champion' ORDER BY e.id").fetchall()
    extras = [json.loads(extra) for (extra,) in rows]
    assert {"version": "1", "day": DAYS[3].isoformat()} in extras


def test_batch_scoring_dag_wrote_scores_of_the_champion_without_sold_items(end_to_end) -> None:
    from rankct.contract import partition_path
    from rankct.features.build import as_of
    from rankct.registry import champion_version, open_store

    cfg = end_to_end.config
    assert end_to_end.report.scoring.state == "success" and end_to_end.report.scoring.day == DAYS[5]
    record = json.loads((cfg.home / "runs" / "scoring" / f"dt={DAYS[5]}.json").read_text())
    assert record["version"] == champion_version(open_store(cfg))
    recommendations = pd.read_parquet(record["path"])
    assert len(recommendations) == record["rows"] > 0
    assert recommendations.groupby("user_id")["rank"].min().eq(1).all()
    items = pd.concat(pd.read_parquet(partition_path(cfg.data_root, "items", day))
                      for day in DAYS)
    sold = set(items.loc[items["sold_at"].notna() & (items["sold_at"] < as_of(DAYS[5])),
                         "item_id"])
    assert not sold & set(recommendations["item_id"])


def test_monitoring_dag_checked_everything_and_status_reports_it(end_to_end, monkeypatch,
                                                                capsys) -> None:
    from rankct.cli import main

    result = end_to_end.report.monitoring
    assert {t.task_id: t.state for t in result.tasks} == {
        task: "success" for task in ("raw_freshness", "feature_freshness", "champion_freshness",
                                     "feature_drift", "score_drift", "online_offline_skew")}
    monkeypatch.setenv("RANKCT_HOME", str(end_to_end.config.home))
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["champion"]["version"] in ("1", "2")
    assert [run["day"] for run in status["runs"][:3]] == [d.isoformat() for d in DAYS[5:2:-1]]
    assert set(status["monitoring"]["checks"]) == {t.task_id for t in result.tasks}
    assert status["scoring"]["day"] == DAYS[5].isoformat()
    assert main(["status"]) == 0
    assert "stopped at data gate 1" in capsys.readouterr().out


def test_summary_names_every_decision_the_champion_beside_the_references_and_the_plot(
        end_to_end) -> None:
    from rankct.orchestrate.summary import summarize
    from rankct.registry import champion_version, open_store

    cfg = end_to_end.config
    text, document = summarize(cfg, end_to_end.report, bad_day=BAD_DAY)
    outcomes = training_days(end_to_end)
    for day in DAYS[3:]:
        assert any(line.strip().startswith(f"{day} ") and outcomes[day]["state"] in line
                   for line in text.splitlines()), text
    assert f"{BAD_DAY} carried damaged data: stopped at the data gate; the champion was left " \
           "untouched." in text
    store = open_store(cfg)
    champion = champion_version(store)
    line = next(li for li in text.splitlines() if li.strip().startswith("champion:"))
    assert f" v{champion} " in line and "NDCG@10" in line and "logging policy" in line
    last = document["ndcg_by_day"][-1]
    assert f"champion {last['champion']:.4f}" in line and 0 < last["champion"] <= 1
    assert f"oracle {last['oracle']:.4f}" in line and 0 < last["oracle"] <= 1
    assert f"ONNX model   {cfg.home / 'exports'}" in text and "make ui" in text
    # The plot: a PNG on disk and the same figure on an MLflow run with the per-day figures.
    assert Path(document["plot"]["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = store.client.search_runs([store.experiment_id()],
                                    "tags.`rankct.kind` = 'pipeline_summary'")
    assert runs and runs[0].info.run_id in document["plot"]["mlflow_url"]
    artifacts = {a.path for a in store.client.list_artifacts(runs[0].info.run_id)}
    assert {"ndcg_by_day.png", "ndcg_by_day.json"} <= artifacts
    assert runs[0].data.metrics["champion_ndcg_at_10"] == pytest.approx(last["champion"])
    assert json.loads((cfg.reports_dir / "summary" / "summary.json").read_text())["bad_day"] \
        == BAD_DAY.isoformat()
