"""Spark jobs of ``jobs/`` submitted through the apache-spark provider.

The Spark master comes from the Airflow connection ``rankct_spark``: ``local[*]`` on the embedded
profile (``AIRFLOW_CONN_RANKCT_SPARK='{"conn_type": "spark", "host": "local[*]"}'``, set by
``rankct run`` and ``make ui``), ``spark://spark-master:7077`` in production
(docker-compose.yaml). Driver settings are read from the rankct profile when the task renders,
not when the DAG file is parsed.

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


def spark_job(task_id: str, script: str, arguments: list[str], **kwargs: Any) -> BaseOperator:
    """A task that spark-submits ``jobs/<script>`` with ``arguments`` (templated), or submits it
    to Dataproc when the profile says so."""
    from rankct.config import load_config

    config = load_config()
    if config.gcp.spark_runner == "dataproc":
        return dataproc_job(config, task_id, script, arguments, **kwargs)
    return SparkSubmitOperator(
        task_id=task_id,
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
