"""Inside Airflow tasks the BigQuery client takes the credentials of the connection
``google_cloud_default`` as the Google provider builds them (here: the anonymous connection
rankct run defines for a profile pointed at the emulator)."""

from __future__ import annotations

import json

import pytest
from rankct.gcp.clients import bigquery_client, use_credentials

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture()
def connection(monkeypatch):
    def define(value: str) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", value)

    yield define
    use_credentials(None)


def test_the_tasks_client_queries_with_the_connections_credentials(bq_config,
                                                                    connection) -> None:
    from google.auth.credentials import AnonymousCredentials
    from rankct.airflow.gcp import use_connection_credentials
    from rankct.orchestrate.environment import google_cloud_connection

    connection(google_cloud_connection(bq_config))
    assert json.loads(google_cloud_connection(bq_config))["extra"]["is_anonymous"] is True
    use_connection_credentials(bq_config)
    client = bigquery_client(bq_config.gcp)
    assert isinstance(client._credentials, AnonymousCredentials)
    assert next(iter(client.query("SELECT 41 + 1 AS answer").result()))["answer"] == 42


def test_a_connection_naming_a_missing_key_file_is_what_fails(bq_config, connection,
                                                               tmp_path) -> None:
    from rankct.airflow.gcp import use_connection_credentials

    missing = tmp_path / "no-such-key.json"
    connection(json.dumps({"conn_type": "google_cloud_platform",
                           "extra": {"key_path": str(missing)}}))
    use_connection_credentials(bq_config)
    with pytest.raises(Exception, match="no-such-key.json"):
        bigquery_client(bq_config.gcp)
