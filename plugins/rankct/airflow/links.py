"""Links on a task's page in the Airflow UI to what the task produced.

A stage's summary carries the addresses (``mlflow_url``, ``report_url``, ``decision_url``,
built by the library from ``ui.*`` settings); :class:`rankct.airflow.operators.StageOperator`
pushes each to XCom under the link's key, and the UI reads it from there.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink


class _SummaryLink(BaseOperatorLink):
    """A link whose URL the task pushed to XCom under :attr:`xcom_key`."""

    summary_field: str = ""

    @property
    def xcom_key(self) -> str:
        return f"rankct_link_{self.summary_field}"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_value(ti_key=ti_key, key=self.xcom_key) or ""


class MlflowLink(_SummaryLink):
    """The MLflow run, registered version or artifacts the task created."""

    name = "MLflow"
    summary_field = "mlflow_url"


class EvidentlyReportLink(_SummaryLink):
    """The Evidently report the task published, in the Evidently UI."""

    name = "Evidently report"
    summary_field = "report_url"


class DecisionRecordLink(_SummaryLink):
    """The model gate's decision record (every check, value, threshold), in MLflow."""

    name = "Decision record"
    summary_field = "decision_url"


class BigQueryJobLink(_SummaryLink):
    """Data gate 1's query of the day's rules in BigQuery (profiles with raw tables there)."""

    name = "BigQuery job"
    summary_field = "bigquery_url"


# By the name a DAG gives them on a task (``StageOperator(links=["mlflow", "report"])``).
LINKS: dict[str, _SummaryLink] = {"mlflow": MlflowLink(), "report": EvidentlyReportLink(),
                                  "decision": DecisionRecordLink(), "bigquery": BigQueryJobLink()}


def raw_gate_links() -> list[str]:
    """Data gate 1's links: its report, and its BigQuery job where the profile keeps the raw
    tables in BigQuery (chosen when the DAG file is parsed)."""
    from rankct.config import load_config

    return ["report", *(["bigquery"] if load_config().gcp.raw_store == "bigquery" else [])]
