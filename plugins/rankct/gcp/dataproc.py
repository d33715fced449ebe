"""Spark jobs on Dataproc: a job of ``jobs/`` as a Dataproc ``Job`` message, and the code it runs
staged on Cloud Storage.

The job runs the same entry point spark-submit runs (``jobs/<script>``), with the rankct package
as a zip on the Python path and the gcp profile chosen by argument (a Dataproc driver does not
inherit the Airflow worker's environment). The cluster reads and writes the offline store at the
same path as the Airflow workers (a Filestore or Cloud Storage FUSE mount on every node) and
has the project's locked packages installed (an initialization action running
``pip install -r <code_uri>/requirements.lock``): both are the cluster's set-up, not the job's.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from rankct.config import REPO_ROOT, RankctConfig
from rankct.errors import ConfigError

CODE_ARCHIVE = "rankct.zip"
LOCK_FILE = "requirements.lock"
# A fixed time for every archive entry: the same sources give the same zip bytes.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def code_uri(config: RankctConfig) -> str:
    """``gcp.code_uri``, or ``gs://<gcp.bucket>/rankct-code``; without either, a ConfigError."""
    gcp = config.gcp
    if gcp.code_uri:
        return gcp.code_uri.rstrip("/")
    if gcp.bucket:
        return f"gs://{gcp.bucket}/rankct-code"
    raise ConfigError("neither gcp.code_uri nor gcp.bucket is set: Dataproc jobs need the code "
                      "on Cloud Storage",
                      hint="set RANKCT__GCP__BUCKET (or RANKCT__GCP__CODE_URI) and run "
                           "`rankct gcp stage-code`")


def pyspark_job(config: RankctConfig, script: str, arguments: list[str],
                name: str) -> dict[str, Any]:
    """The Dataproc ``Job`` (REST/proto field names) that runs ``jobs/<script> arguments``.

    ``arguments`` may hold Airflow templates (``{{ ds }}``): the operator renders ``job``.
    """
    code = code_uri(config)
    spark = config.spark
    return {
        "placement": {"cluster_name": config.gcp.dataproc_cluster},
        "labels": {"rankct-job": name.lower().replace("_", "-")[:63]},
        "pyspark_job": {
            "main_python_file_uri": f"{code}/jobs/{script}",
            "args": [*arguments, "--profile", config.profile],
            "python_file_uris": [f"{code}/{CODE_ARCHIVE}"],
            "properties": {
                "spark.app.name": f"rankct-{name}",
                "spark.driver.memory": spark.driver_memory,
                "spark.sql.shuffle.partitions": str(spark.shuffle_partitions),
                "spark.sql.session.timeZone": "UTC",
            },
        },
    }


def code_archive(root: Path = REPO_ROOT) -> bytes:
    """The rankct package (``plugins/rankct``, Python sources only) as zip bytes, the same
    bytes for the same sources."""
    package = root / "plugins"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((package / "rankct").rglob("*.py")):
            entry = zipfile.ZipInfo(path.relative_to(package).as_posix(), _ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    return buffer.getvalue()


def stage_code(config: RankctConfig, root: Path = REPO_ROOT) -> dict[str, str]:
    """Upload what the Dataproc jobs run to :func:`code_uri`: ``jobs/*.py``, the package zip
    and the lock file. Returns each object's ``gs://`` URI by name. Each object is replaced
    whole (a Cloud Storage write is atomic per object); run it when rankct is upgraded."""
    from rankct.gcp.clients import storage_client

    code = code_uri(config)
    bucket_name, _, prefix = code.removeprefix("gs://").partition("/")
    if not code.startswith("gs://") or not bucket_name:
        raise ConfigError(f"gcp.code_uri {code!r} is not a gs://bucket/prefix URI")
    files: dict[str, bytes] = {f"jobs/{p.name}": p.read_bytes()
                               for p in sorted((root / "jobs").glob("*.py"))}
    files[CODE_ARCHIVE] = code_archive(root)
    files[LOCK_FILE] = (root / LOCK_FILE).read_bytes()
    bucket = storage_client(config.gcp).bucket(bucket_name)
    staged = {}
    for name, data in files.items():
        key = f"{prefix}/{name}" if prefix else name
        bucket.blob(key).upload_from_string(data)
        staged[name] = f"gs://{bucket_name}/{key}"
    return staged
