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
def test_dags_run_for_any_day_the_data_has(dagbag, dag_id) -> None:
    """Airflow runs no task for a logical date before start_date: it predates any log."""
    dag = dagbag.dags[dag_id]
    assert dag.start_date.year <= 1970 and not dag.catchup


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
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
    from rankct.airflow.operators import import_stage

    features = dag.get_task("build_features")
    assert isinstance(features, SparkSubmitOperator) and features._conn_id == "rankct_spark"
    assert callable(import_stage(features.connect_stage))  # what it runs on a Connect server
    promote = dag.get_task("promote")
    assert [outlet.name for outlet in promote.outlets] == ["rankct_champion"]
    # Per-run params change training only; gate thresholds and the webhook are not among them.
    assert set(dag.params) == {"training_objective", "search_trials", "overrides"}
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
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    score = dag.get_task("score")
    # Always spark-submitted: scoring broadcasts the booster, which Spark Connect cannot.
    assert isinstance(score, SparkSubmitOperator) and score.connect_stage is None


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


def service_down(config, day) -> dict:
    """A stage whose database does not answer (what rankct.retry raises after its retries)."""
    from rankct.errors import ServiceUnavailable

    raise ServiceUnavailable("MLflow get_model_version_by_alias failed 3 time(s)")


def bad_input(config, day) -> dict:
    from rankct.errors import DataGateFailed

    raise DataGateFailed("impressions.position: 40% nulls")


@pytest.mark.parametrize(("stage", "retried"), [("service_down", True), ("bad_input", False)])
def test_a_service_outage_is_retried_and_bad_data_is_not(airflow_env, stage, retried,
                                                         monkeypatch) -> None:
    import pendulum
    from airflow.sdk.exceptions import AirflowFailException
    from rankct.airflow.operators import FAILURE_KEY, StageOperator
    from rankct.errors import RankctError

    monkeypatch.setenv("RANKCT_HOME", airflow_env["RANKCT_HOME"])
    operator = StageOperator(task_id="probe", stage=f"{__name__}:{stage}")
    context = {"params": {}, "logical_date": pendulum.datetime(2026, 11, 6, tz="UTC")}
    with pytest.raises(RankctError if retried else AirflowFailException) as raised:
        operator.run_stage(context)
    # Airflow fails an AirflowFailException at once; any other exception uses the retries.
    assert isinstance(raised.value, AirflowFailException) is not retried
    assert context[FAILURE_KEY]


def connect_probe(config, day) -> dict:
    return {"day": day.isoformat(), "remote": config.spark.remote}


def test_a_spark_job_runs_its_stage_in_the_task_only_when_there_is_a_connect_server(
        airflow_env, monkeypatch, tmp_path) -> None:
    """With the profile's Spark Connect server the job's stage runs in the task (a
    spark-submitted job would only attach to that server); without one, spark-submit runs."""
    import pendulum
    from rankct.airflow.spark import SparkJobOperator

    for key, value in airflow_env.items():
        if key.startswith(("AIRFLOW", "RANKCT", "PYSPARK")) or key == "PATH":
            monkeypatch.setenv(key, value)
    marker = tmp_path / "submitted"
    job = tmp_path / "job.py"
    job.write_text("import sys\nfrom pathlib import Path\nPath(sys.argv[1]).write_text('ran')\n")
    operator = SparkJobOperator(task_id="probe", application=str(job), conn_id="rankct_spark",
                                application_args=[str(marker)],
                                connect_stage=f"{__name__}:connect_probe")
    context = {"params": {}, "logical_date": pendulum.datetime(2026, 11, 6, tz="UTC")}
    monkeypatch.setenv("RANKCT__SPARK__REMOTE", "sc://127.0.0.1:15999")
    summary = operator.execute(context)
    assert summary["remote"] == "sc://127.0.0.1:15999" and summary["day"] == "2026-11-06"
    assert "stage_seconds" in summary and not marker.exists()
    monkeypatch.delenv("RANKCT__SPARK__REMOTE")
    operator.execute(context)
    assert marker.read_text() == "ran"


def test_a_run_may_override_training_but_not_the_gate_or_the_webhook(airflow_env,
                                                                     monkeypatch) -> None:
    import pendulum
    from airflow.sdk.exceptions import AirflowFailException
    from rankct.airflow.operators import StageOperator

    monkeypatch.setenv("RANKCT_HOME", airflow_env["RANKCT_HOME"])
    operator = StageOperator(task_id="probe", stage=f"{__name__}:bad_input")
    for overrides in ({"gate.min_ndcg": 0.0}, {"notify.url": "https://attacker.example"}):
        context = {"params": {"overrides": overrides},
                   "logical_date": pendulum.datetime(2026, 11, 6, tz="UTC")}
        with pytest.raises(AirflowFailException, match="a run may not override"):
            operator.run_stage(context)


def test_a_warm_up_day_skips_every_later_task_in_one_step(dagbag) -> None:
    """check_history short-circuits: all its downstream tasks at once, not a level per
    scheduling round (a second each in `airflow dags test`)."""
    from types import SimpleNamespace

    from airflow.sdk.exceptions import DownstreamTasksSkipped
    from rankct.errors import StageSkipped

    dag = dagbag.dags["ranker_continuous_training"]
    guard = dag.get_task("check_history")
    ti = SimpleNamespace(map_index=-1, xcom_push=lambda **kwargs: None)
    with pytest.raises(DownstreamTasksSkipped) as skipped:
        guard.on_skip({"ti": ti}, StageSkipped("warm-up"))
    downstream = {t.task_id for t in guard.get_flat_relatives(upstream=False)}
    assert set(skipped.value.tasks) == downstream >= {"training_set", "train", "promote",
                                                      "notify", "reject"}


def test_the_dags_test_runner_reuses_one_in_process_execution_api() -> None:
    """What rankct.airflow.dags_test changes in Airflow (Task SDK 1.3's cache), checked in a
    process of its own."""
    probe = ("from rankct.airflow.dags_test import cache_in_process_api as cache\n"
             "from airflow.sdk.execution_time import supervisor as s\n"
             "first = cache()\n"
             "assert s.in_process_api_server() is s.in_process_api_server()\n"
             "print(first, cache())")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.split()[-2:] in (["True", "False"], ["False", "False"])


@pytest.mark.parametrize(("dag_file", "task_id", "script"), [
    ("ranker_continuous_training.py", "build_features", "build_features.py"),
    ("ranker_batch_scoring.py", "score", "batch_score.py")])
def test_on_dataproc_the_spark_jobs_are_dataproc_jobs(airflow_env, dag_file, task_id,
                                                      script) -> None:
    """gcp.spark_runner=dataproc: the task submits a Dataproc job whose rendered arguments are
    the spark-submit ones, and that Dataproc's own Job message accepts."""
    probe = f"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
assert not bag.import_errors, bag.import_errors
dag = next(iter(bag.dags.values()))
task = dag.get_task({task_id!r})
from rankct.airflow.spark import MACROS
class Prepared:  # what prepare_scoring pushes (the scoring DAG's arguments read it)
    def xcom_pull(self, task_ids):
        return {{"day": "2026-11-05", "model": "/models/3/booster.ubj", "onnx": "/models/3/m.onnx",
                "out": "/scores", "version": "3"}}
job = task.render_template(task.job, {{"ds": "2026-11-05", "ti": Prepared(), **MACROS}})
gate = dag.task_dict.get("validate_raw_data")
print(json.dumps({{"type": type(task).__name__, "job": job, "region": task.region,
                  "conn": task.gcp_conn_id,
                  "gate_links": sorted(l.name for l in gate.operator_extra_links) if gate else None}}))
"""
    env = {**airflow_env, "RANKCT_PROFILE": "gcp", "RANKCT__GCP__SPARK_RUNNER": "dataproc",
           "RANKCT__GCP__BUCKET": "market-ml", "RANKCT__GCP__DATAPROC_REGION": "europe-west1"}
    proc = subprocess.run([sys.executable, "-c", probe, str(DAG_FOLDER / dag_file)], env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    from google.cloud import dataproc_v1

    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (seen["type"], seen["region"], seen["conn"]) == (
        "DataprocSubmitJobOperator", "europe-west1", "google_cloud_default")
    job = dataproc_v1.Job(seen["job"])
    assert job.pyspark_job.main_python_file_uri == f"gs://market-ml/rankct-code/jobs/{script}"
    args = list(job.pyspark_job.args)
    assert "2026-11-05" in args and args[-2:] == ["--profile", "gcp"]
    assert "{{" not in " ".join(args)
    if seen["gate_links"] is not None:  # raw tables in BigQuery: data gate 1 links its job
        assert seen["gate_links"] == ["BigQuery job", "Evidently report"]


def test_a_replay_bounds_the_schedule_but_not_backfills_or_asset_runs(airflow_env) -> None:
    """RANKCT_SCHEDULE_END: every DAG ends on that day (the scheduler starts no run of today's
    interval on a replay), backfill intervals up to it are still there, and none is unset."""
    probe = """
import json, sys
from datetime import datetime, UTC
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
assert not bag.import_errors, bag.import_errors
out = {}
for dag_id, dag in bag.dags.items():
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    infos = serialized.iter_dagrun_infos_between(datetime(2026, 11, 1, tzinfo=UTC),
                                                 datetime(2026, 11, 5, 23, 59, 59, tzinfo=UTC))
    out[dag_id] = [str(dag.end_date), len(list(infos))]
print(json.dumps(out))
"""
    seen = {}
    for end in ("2026-11-05", ""):
        proc = subprocess.run([sys.executable, "-c", probe, str(DAG_FOLDER)],
                              env={**airflow_env, "RANKCT_SCHEDULE_END": end},
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        import json

        seen[end] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {v[0] for v in seen["2026-11-05"].values()} == {"2026-11-05 23:59:59+00:00"}
    assert {v[1] for v in seen["2026-11-05"].values()} == {5}  # a backfill's five days
    assert {v[0] for v in seen[""].values()} == {"None"}


def test_a_schedule_end_that_is_not_a_date_says_so() -> None:
    from rankct.airflow.defaults import schedule_end
    from rankct.errors import ConfigError

    assert schedule_end({}) is None
    assert schedule_end({"RANKCT_SCHEDULE_END": "2026-11-05"}).isoformat() == \
        "2026-11-05T23:59:59+00:00"
    with pytest.raises(ConfigError, match="RANKCT_SCHEDULE_END='11/05' is not a date"):
        schedule_end({"RANKCT_SCHEDULE_END": "11/05"})
