"""
### ranker_batch_scoring

Top-K recommendations for every active user, scored with the champion. Runs when the training
DAG promotes a new champion (Asset `rankct_champion`; the run scores the day the champion was
trained for) and every day at 06:00 UTC (the run of logical date **D** scores with the features
as of the end of D).

prepare (the champion's booster and ONNX files) → score (Spark job `jobs/batch_score.py`:
candidates, features, native booster per partition, ONNX parity on a sample, top-K written
atomically to `recommendations/dt=D`) → record (checks the partition, keeps the score
distribution for the monitoring DAG's score-drift check).
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, dag
from rankct.airflow.assets import CHAMPION
from rankct.airflow.defaults import EARLIEST_DAY, default_args, schedule_end
from rankct.airflow.operators import StageOperator
from rankct.airflow.spark import MACROS, spark_job


def prepared(field: str) -> str:
    """A template that reads one field of the prepare_scoring task's summary."""
    return "{{ ti.xcom_pull(task_ids='prepare_scoring')['" + field + "'] }}"


@dag(
    dag_id="ranker_batch_scoring",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"), assets=CHAMPION),
    start_date=EARLIEST_DAY,  # any day the data has; catchup off
    catchup=False,
    end_date=schedule_end(),
    max_active_runs=1,
    user_defined_macros=MACROS,
    tags=["rankct", "scoring"],
    doc_md=__doc__,
    default_args=default_args(retries=2),
)
def ranker_batch_scoring() -> None:
    prepare = StageOperator(task_id="prepare_scoring",
                            stage="rankct.pipeline.scoring:prepare_scoring", links=["mlflow"])
    score = spark_job("score", "batch_score.py", [
        "--date", prepared("day"), "--model", prepared("model"), "--onnx", prepared("onnx"),
        "--out", prepared("out")])
    record = StageOperator(task_id="record_scores", stage="rankct.pipeline.scoring:record_scores",
                           stage_kwargs={"version": prepared("version")})

    prepare >> score >> record


ranker_batch_scoring()
