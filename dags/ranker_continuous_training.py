"""
### ranker_continuous_training

Retrains the marketplace ranker on each day's interaction logs and promotes it only if it
beats the champion. The run of logical date **D** trains on the window ending on day D (the
scheduled run starts at 03:00 UTC on D+1, once D's logs have landed).

validate raw data (data gate 1) → build features (Spark job) → register and materialize them
(Feast) → enough history? (warm-up days stop here, green) → point-in-time training set → data
gate 2 → train (MLflow run, version with alias `challenger`) → evaluate beside the champion →
model gate → **passed**: export ONNX / Vespa / Triton → promote (alias `champion`, Asset
`rankct_champion`) → notify the deployment webhook; **failed**: reject with reasons.

A stopped gate fails its task without retries and raises an alert; the champion never changes
unless the gate passed. Per-run overrides: the trigger form's params. Backfill a range with
`airflow backfill create --dag-id ranker_continuous_training --from-date D1 --to-date D2`
(runs go one at a time, oldest first). Task links open the MLflow run, the Evidently report or
the decision record.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag
from rankct.airflow.assets import CHAMPION
from rankct.airflow.defaults import EARLIEST_DAY, default_args, schedule_end
from rankct.airflow.links import raw_gate_links
from rankct.airflow.operators import (
    GateOperator,
    PublishingStageOperator,
    ShortCircuitStageOperator,
    StageOperator,
)
from rankct.airflow.runtime import training_params
from rankct.airflow.spark import MACROS, spark_job

PIPELINE = "rankct.pipeline"


@dag(
    dag_id="ranker_continuous_training",
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    # Any logical date the data has must run (a backfill of 1998 as much as today): with
    # catchup off, the scheduler still starts from the latest interval only.
    start_date=EARLIEST_DAY,
    catchup=False,
    end_date=schedule_end(),
    max_active_runs=1,
    params=training_params(),
    user_defined_macros=MACROS,
    tags=["rankct", "training"],
    doc_md=__doc__,
    default_args=default_args(retries=2),
)
def ranker_continuous_training() -> None:
    validate = StageOperator(task_id="validate_raw_data",
                             stage=f"{PIPELINE}.prepare:validate_raw", links=raw_gate_links())
    features = spark_job("build_features", "build_features.py", ["--date", "{{ ds }}"],
                         connect_stage=f"{PIPELINE}.prepare:build_features")
    register = StageOperator(task_id="register_features",
                             stage=f"{PIPELINE}.prepare:apply_feature_repo")
    materialize = StageOperator(task_id="materialize", stage=f"{PIPELINE}.prepare:materialize")
    history = ShortCircuitStageOperator(task_id="check_history",
                                        stage=f"{PIPELINE}.prepare:check_history")
    training_set = StageOperator(task_id="training_set",
                                 stage=f"{PIPELINE}.prepare:make_training_set")
    data_gate_2 = StageOperator(task_id="validate_training_set",
                                stage=f"{PIPELINE}.challenger:validate_training_set",
                                links=["report"])
    train = StageOperator(task_id="train", stage=f"{PIPELINE}.challenger:train_challenger",
                          stage_kwargs={"airflow_run_id": "{{ run_id }}"}, links=["mlflow"])
    evaluate = StageOperator(task_id="evaluate",
                             stage=f"{PIPELINE}.evaluate:evaluate_challenger",
                             links=["report", "mlflow"])
    gate = GateOperator(task_id="gate", stage=f"{PIPELINE}.decide:judge_challenger",
                        if_passed="export", if_failed="reject", links=["decision"])
    export = StageOperator(task_id="export", stage=f"{PIPELINE}.ship:export_challenger",
                           links=["mlflow"])
    promote = PublishingStageOperator(task_id="promote",
                                      stage=f"{PIPELINE}.decide:promote_challenger",
                                      outlets=[CHAMPION], extra_fields=["version", "day"],
                                      stage_kwargs={"airflow_run_id": "{{ run_id }}"},
                                      links=["mlflow"])
    notify = StageOperator(task_id="notify", stage=f"{PIPELINE}.ship:notify_deployment",
                           retries=0)  # the webhook client retried with backoff already
    reject = StageOperator(task_id="reject", stage=f"{PIPELINE}.decide:reject_challenger",
                           links=["mlflow"])

    # Feast validates its sources on apply: the first day's tables must exist first.
    validate >> features >> register >> materialize >> history >> training_set
    training_set >> data_gate_2 >> train >> evaluate >> gate
    gate >> export >> promote >> notify
    gate >> reject


ranker_continuous_training()
