"""The DAG files: they import cleanly and cheaply, carry tags, retries and failure alerts, and
wire the tasks in the order the pipeline needs."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = {"ranker_continuous_training", "ranker_batch_scoring", "ranker_monitoring"}
DAG_FOLDER = Path(__file__).resolve().parents[2] / "dags"


def test_every_dag_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == DAGS


@pytest.mark.parametrize("dag_id", sorted(DAGS))
def test_dags_have_tags_retries_alerts_and_one_active_run(dagbag, dag_id) -> None:
    dag = dagbag.dags[dag_id]
    assert "rankct" in dag.tags and len(dag.tags) >= 2
    assert dag.max_active_runs == 1
    assert dag.doc_md and dag_id in dag.doc_md
    for task in dag.tasks:
        assert task.retries >= 1 or task.task_id == "notify", task.task_id
        assert task.on_failure_callback, f"{dag_id}.{task.task_id} raises no alert"


def _edges(dag) -> set[tuple[str, str]]:
    return {(task.task_id, down) for task in dag.tasks for down in task.downstream_task_ids}


def test_training_dag_graph(dagbag) -> None:
    dag = dagbag.dags["ranker_continuous_training"]
    chain = ["validate_raw_data", "build_features", "register_features", "materialize",
             "check_history", "training_set", "validate_training_set", "train", "evaluate",
             "gate"]
    expected = set(itertools.pairwise(chain)) | {("gate", "export"), ("gate", "reject"),
                                              ("export", "promote"), ("promote", "notify")}
    assert _edges(dag) == expected
    assert type(dag.get_task("build_features")).__name__ == "SparkSubmitOperator"
    assert dag.get_task("build_features")._conn_id == "rankct_spark"
    promote = dag.get_task("promote")
    assert [outlet.name for outlet in promote.outlets] == ["rankct_champion"]
    assert set(dag.params) >= {"training_objective", "max_drift_share", "min_ndcg", "overrides"}
    # Each task that produces an MLflow run, a report or a decision record links to it.
    links = {t.task_id: {link.name for link in t.operator_extra_links} for t in dag.tasks}
    assert links["validate_raw_data"] == {"Evidently report"}
    assert links["train"] == {"MLflow"}
    assert links["evaluate"] == {"Evidently report", "MLflow"}
    assert links["gate"] == {"Decision record"}


def test_scoring_dag_runs_on_the_champion_asset_and_daily(dagbag) -> None:
    dag = dagbag.dags["ranker_batch_scoring"]
    assert _edges(dag) == {("prepare_scoring", "score"), ("score", "record_scores")}
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert dag.timetable.asset_condition.name == "rankct_champion"
    assert type(dag.timetable.timetable).__name__ == "CronDataIntervalTimetable"
    assert type(dag.get_task("score")).__name__ == "SparkSubmitOperator"


def test_monitoring_dag_runs_every_check_independently(dagbag) -> None:
    dag = dagbag.dags["ranker_monitoring"]
    assert set(dag.task_ids) == {"raw_freshness", "feature_freshness", "champion_freshness",
                                 "feature_drift", "score_drift", "online_offline_skew"}
    assert _edges(dag) == set()  # one failed check does not hide the others


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAG_FOLDER.glob("*.py")))
def test_importing_a_dag_file_does_no_heavy_work(airflow_env, dag_file) -> None:
    """Top-level code: no Spark, XGBoost, Feast, Evidently or MLflow import, no state written."""
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "heavy = ['pyspark', 'xgboost', 'feast', 'evidently', 'mlflow']; "
        "print([m for m in heavy if m in sys.modules])")
    home = Path(airflow_env["RANKCT_HOME"])
    before = sorted(p.name for p in home.iterdir()) if home.exists() else []
    proc = subprocess.run([sys.executable, "-c", probe, str(DAG_FOLDER / dag_file)],
                          env=airflow_env, capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    after = sorted(p.name for p in home.iterdir()) if home.exists() else []
    assert after == before
