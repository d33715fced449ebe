"""
### ranker_monitoring

Daily health of what serves, for the day **D** of the run's logical date (runs at 07:00 UTC on
D+1, after training and batch scoring). Each check is a task; a failed check fails its task and
raises an alert (record under `alerts/`, webhook if `alerts.url` is set) naming what is wrong and
what to do.

- raw_freshness, feature_freshness (offline tables and the online store), champion_freshness;
- feature_drift (item and user tables against a week earlier) and score_drift (batch scores
  against the last scores of the same champion), each with an Evidently report;
- online_offline_skew (a sample of every view's entities, online against offline).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronDataIntervalTimetable, dag
from rankct.airflow.defaults import EARLIEST_DAY, default_args, schedule_end
from rankct.airflow.operators import StageOperator

# task id: (stage, links)
CHECKS = {
    "raw_freshness": ("rankct.monitoring.freshness:raw_freshness", []),
    "feature_freshness": ("rankct.monitoring.freshness:feature_freshness", []),
    "champion_freshness": ("rankct.monitoring.freshness:champion_freshness", []),
    "feature_drift": ("rankct.monitoring.drift:feature_drift", ["report"]),
    "score_drift": ("rankct.monitoring.drift:score_drift", ["report"]),
    "online_offline_skew": ("rankct.monitoring.consistency:online_offline_skew", []),
}


@dag(
    dag_id="ranker_monitoring",
    schedule=CronDataIntervalTimetable("0 7 * * *", timezone="UTC"),
    start_date=EARLIEST_DAY,  # any day the data has; catchup off
    catchup=False,
    end_date=schedule_end(),
    max_active_runs=1,
    tags=["rankct", "monitoring"],
    doc_md=__doc__,
    default_args=default_args(retries=1, timeout=timedelta(minutes=30)),
)
def ranker_monitoring() -> None:
    for task_id, (stage, links) in CHECKS.items():
        StageOperator(task_id=task_id, stage=stage, links=links)


ranker_monitoring()
