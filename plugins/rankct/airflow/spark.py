"""Spark jobs of ``jobs/`` submitted through the apache-spark provider.

The Spark master comes from the Airflow connection ``rankct_spark``: ``local[*]`` on the embedded
profile (``AIRFLOW_CONN_RANKCT_SPARK='{"conn_type": "spark", "host": "local[*]"}'``, set by
``rankct run`` and ``make ui``), ``spark://spark-master:7077`` in production
(docker-compose.yaml). Driver settings are read from the rankct profile when the task renders,
not when the DAG file is parsed.

When the profile attaches to a Spark Connect server (``spark.remote``: the one ``rankct run``
starts on the local profile, the stack's on prod), a job with a library stage runs that stage
in its task, attached to the server: a spark-submitted job would attach to the same server, and
its JVM (three seconds a task) would only relay. Batch scoring has no Connect path (it
broadcasts the booster) and is always spark-submitted.

On the gcp profile with ``gcp.spark_runner: dataproc`` the same jobs go through Dataproc's Jobs
API instead (:mod:`rankct.gcp.dataproc`, connection ``google_cloud_default``); that choice is
made when the DAG file is parsed, so the scheduler's and the workers' profile must agree.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import BaseOperator

from rankct.config import REPO_ROOT, RankctConfig

SPARK_CONN_ID = "rankct_spark"


class SparkMacros:
    """``{{ rankct.spark("driver_memory") }}`` in templates: a setting of the active profile."""

    def spark(self, setting: str) -> str:
        from rankct.config import load_config

        return str(getattr(load_config().spark, setting))


MACROS = {"rankct": SparkMacros()}


class SparkJobOperator(SparkSubmitOperator):
    """spark-submit of ``jobs/<script>``; or, when the run's profile attaches to a Spark Connect
    server and the job has a ``connect_stage`` (the library stage the script runs), that stage
    run in this task attached to the server, as the other stages are."""

    def __init__(self, *, connect_stage: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connect_stage = connect_stage

    def execute(self, context: Any) -> Any:
        from rankct.airflow.operators import run_stage
        from rankct.airflow.runtime import run_config
        from rankct.spark import remote_url

        remote = remote_url(run_config(context).spark) if self.connect_stage else None
        if remote is None:
            return super().execute(context)
        self.log.info("Spark Connect server %s: running %s in this task, attached to it "
                      "(spark-submit of %s would start a JVM only to attach to it too)",
                      remote, self.connect_stage, self.application)
        return run_stage(self, context, self.connect_stage, {})


def spark_job(task_id: str, script: str, arguments: list[str], connect_stage: str | None = None,
              **kwargs: Any) -> BaseOperator:
    """A task that spark-submits ``jobs/<script>`` with ``arguments`` (templated), or submits it
    to Dataproc when the profile says so. ``connect_stage``: the library stage the script runs,
    run in the task instead when the profile has a Spark Connect server."""
    from rankct.config import load_config

    config = load_config()
    if config.gcp.spark_runner == "dataproc":
        return dataproc_job(config, task_id, script, arguments, **kwargs)
    return SparkJobOperator(
        task_id=task_id,
        connect_stage=connect_stage,
        application=str(REPO_ROOT / "jobs" / script),
        conn_id=SPARK_CONN_ID,
        name=f"rankct-{task_id}",
        application_args=arguments,
        conf={
            "spark.driver.memory": '{{ rankct.spark("driver_memory") }}',
            "spark.sql.shuffle.partitions": '{{ rankct.spark("shuffle_partitions") }}',
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.showConsoleProgress": "false",
        },
        **kwargs,
    )


def dataproc_job(config: RankctConfig, task_id: str, script: str, arguments: list[str],
                 **kwargs: Any) -> BaseOperator:
    """``jobs/<script>`` as a Dataproc job on ``gcp.dataproc_cluster`` (the code staged by
    ``rankct gcp stage-code``)."""
    from airflow.providers.google.cloud.operators.dataproc import DataprocSubmitJobOperator

    from rankct.gcp.dataproc import pyspark_job

    return DataprocSubmitJobOperator(
        task_id=task_id,
        job=pyspark_job(config, script, arguments, task_id),
        region=config.gcp.dataproc_region,
        project_id=config.gcp.project,
        gcp_conn_id="google_cloud_default",
        **kwargs,
    )
