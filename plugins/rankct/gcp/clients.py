"""BigQuery and Cloud Storage clients built from the ``gcp:`` settings.

With an endpoint set (an emulator, a private endpoint) the client goes there with anonymous
credentials; without one it goes to Google with the environment's credentials (Application
Default Credentials). That choice is the only place rankct knows an endpoint may not be Google.
Inside Airflow tasks the credentials are the connection ``google_cloud_default``'s, as the
Google provider's hooks build them (key file, impersonation, anonymous: the connection says).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rankct.gcp.settings import GcpConfig

if TYPE_CHECKING:
    from google.api_core.retry import Retry
    from google.auth.credentials import Credentials
    from google.cloud import bigquery, storage

# Set by use_credentials: where the clients' credentials come from, when not the environment.
_credentials_source: Callable[[], Credentials] | None = None


def _endpoint_options(endpoint: str) -> dict[str, Any]:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return {"credentials": AnonymousCredentials(),
            "client_options": ClientOptions(api_endpoint=endpoint.rstrip("/"))}


def use_credentials(source: Callable[[], Credentials] | None) -> None:
    """Take the clients' credentials from ``source`` (Airflow tasks: the connection
    ``google_cloud_default``, :mod:`rankct.airflow.gcp`) instead of the environment's; ``None``
    goes back to Application Default Credentials (anonymous with an endpoint)."""
    global _credentials_source
    _credentials_source = source


def _client_options(endpoint: str) -> dict[str, Any]:
    options = _endpoint_options(endpoint) if endpoint else {}
    if _credentials_source is not None:
        options["credentials"] = _credentials_source()
    return options


def bigquery_client(gcp: GcpConfig) -> bigquery.Client:
    """A BigQuery client for ``gcp.project`` in ``gcp.location``."""
    from google.cloud import bigquery

    return bigquery.Client(project=gcp.project, location=gcp.location,
                           **_client_options(gcp.bigquery_endpoint))


def storage_client(gcp: GcpConfig) -> storage.Client:
    """A Cloud Storage client for ``gcp.project``."""
    from google.cloud import storage

    return storage.Client(project=gcp.project, **_client_options(gcp.storage_endpoint))


def bigquery_retry(gcp: GcpConfig) -> Retry:
    """The client's default retry (transient errors, backoff) bounded by the configured deadline."""
    from google.cloud import bigquery

    return bigquery.DEFAULT_RETRY.with_deadline(gcp.retry_deadline_seconds)


def dataset_id(gcp: GcpConfig, client: bigquery.Client) -> str:
    """``project.dataset`` of the raw tables (the client's project when none is configured)."""
    return f"{gcp.project or client.project}.{gcp.dataset}"


def job_console_url(gcp: GcpConfig, job_id: str) -> str:
    """The page of one BigQuery job in the console (``gcp.console_url``): its query, its
    results and what it scanned."""
    from urllib.parse import urlencode

    query = {**({"project": gcp.project} if gcp.project else {}),
             "j": f"bq:{gcp.location}:{job_id}", "page": "queryresults"}
    return f"{gcp.console_url.rstrip('/')}?{urlencode(query)}"
