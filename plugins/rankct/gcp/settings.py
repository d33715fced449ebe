"""The ``gcp:`` section of the configuration (a module of its own so rankct.config stays small)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class GcpConfig(BaseModel):
    """Where the GCP profile's data lives and how its clients reach Google.

    The endpoints are empty for Google itself (credentials from the environment: Application
    Default Credentials, the Airflow connection ``google_cloud_default``). Set, they point the
    clients at another server (the emulators of ``rankct gcp emulators up``) with anonymous
    credentials; nothing else in rankct knows about emulators.
    """

    project: str | None = None  # None: the credentials' default project
    dataset: str = "rankct_raw"  # the contract's raw tables, one per contract table
    location: str = "US"
    bucket: str | None = None  # MLflow artifacts and export bundles (gs://<bucket>/...)
    bigquery_endpoint: str = ""  # e.g. http://127.0.0.1:9050 ; empty: Google
    storage_endpoint: str = ""  # e.g. http://127.0.0.1:9023 ; empty: Google
    # Where data gate 1 reads the raw tables: parquet partitions (Spark) or BigQuery (SQL jobs).
    raw_store: Literal["files", "bigquery"] = "files"
    # The record of complete partitions (a row per table and day, written after the day's rows):
    # BigQuery's counterpart of the _SUCCESS marker, read by the gate's partition_complete rule.
    partitions_table: str = "_rankct_partitions"
    # A failing call is retried with backoff for at most this long (Google's default is 600 s;
    # an emulator's errors would otherwise retry for minutes).
    retry_deadline_seconds: float = Field(120.0, gt=0)
    request_timeout_seconds: float = Field(60.0, gt=0)
    # Where the Airflow task's "BigQuery job" link points (the gate's query of the day's rules).
    console_url: str = "https://console.cloud.google.com/bigquery"
    # How the DAGs run the Spark jobs of jobs/: spark-submit to spark.master (a Dataproc
    # cluster's master is a Spark master too), or Dataproc's Jobs API (DataprocSubmitJobOperator).
    spark_runner: Literal["spark-submit", "dataproc"] = "spark-submit"
    dataproc_region: str = "us-central1"
    dataproc_cluster: str = "rankct"
    # Where `rankct gcp stage-code` puts jobs/, the rankct package and the lock file for the
    # cluster; empty: gs://<bucket>/rankct-code.
    code_uri: str = ""
