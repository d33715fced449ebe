"""Google Cloud credentials of rankct's tasks from the Airflow connection ``google_cloud_default``.

The library's BigQuery and Cloud Storage clients (:mod:`rankct.gcp.clients`) take the
credentials the Google provider builds from the connection (a key file, a secret, impersonation,
Application Default Credentials, or anonymous), so that an operator configures Google access in
Airflow as for any of the provider's operators. The endpoints stay the profile's settings.
"""

from __future__ import annotations

from typing import Any

from rankct.config import RankctConfig

GCP_CONN_ID = "google_cloud_default"


def uses_google_cloud(config: RankctConfig) -> bool:
    """Whether a profile's tasks reach Google Cloud: raw tables in BigQuery, or Dataproc."""
    return config.gcp.raw_store == "bigquery" or config.gcp.spark_runner == "dataproc"


def connection_credentials() -> Any:
    """The credentials of ``google_cloud_default``, built by the provider's base hook."""
    from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

    return GoogleBaseHook(gcp_conn_id=GCP_CONN_ID).get_credentials()


def use_connection_credentials(config: RankctConfig) -> None:
    """In a task of a profile that reaches Google Cloud: the clients use the connection's
    credentials (elsewhere nothing changes)."""
    if uses_google_cloud(config):
        from rankct.gcp.clients import use_credentials

        use_credentials(connection_credentials)

