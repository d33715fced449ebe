"""Spark jobs of ``jobs/`` submitted through the apache-spark provider.

The Spark master comes from the Airflow connection ``rankct_spark``: ``local[*]`` on the embedded
profile (``AIRFLOW_CONN_RANKCT_SPARK='{"conn_type": "spark", "host": "local[*]"}'``, set by
``rankct run`` and ``make ui``), ``spark://spark-master:7077`` in production
(docker-compose.yaml). Driver settings are read from the rankct profile when the task renders,
not when the DAG file is parsed.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from rankct.config import REPO_ROOT

SPARK_CONN_ID = "rankct_spark"


class SparkMacros:
    """``{{ rankct.spark("driver_memory") }}`` in templates: a setting of the active profile."""

    def spark(self, setting: str) -> str:
        from rankct.config import load_config

        return str(getattr(load_config().spark, setting))


MACROS = {"rankct": SparkMacros()}


def spark_job(task_id: str, script: str, arguments: list[str], **kwargs: Any) -> SparkSubmitOperator:
    """A task that spark-submits ``jobs/<script>`` with ``arguments`` (templated)."""
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
