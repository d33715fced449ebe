"""Dataproc jobs: the job message the DAG submits, and the package zip it runs."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
from rankct.config import load_config
from rankct.errors import ConfigError
from rankct.gcp.dataproc import CODE_ARCHIVE, code_archive, code_uri, pyspark_job


def _gcp_config(**gcp):
    environ = {f"RANKCT__GCP__{k.upper()}": v for k, v in gcp.items()}
    return load_config("gcp", environ=environ)


def test_the_job_is_a_valid_dataproc_job_message() -> None:
    from google.cloud import dataproc_v1

    config = _gcp_config(bucket="market-ml", dataproc_cluster="ranking")
    spec = pyspark_job(config, "build_features.py", ["--date", "2026-11-05"], "build_features")
    # proto-plus refuses unknown fields and wrong types: this is the message Dataproc receives.
    job = dataproc_v1.Job(spec)
    assert job.placement.cluster_name == "ranking"
    assert job.pyspark_job.main_python_file_uri == \
        "gs://market-ml/rankct-code/jobs/build_features.py"
    assert list(job.pyspark_job.args) == ["--date", "2026-11-05", "--profile", "gcp"]
    assert list(job.pyspark_job.python_file_uris) == [f"gs://market-ml/rankct-code/{CODE_ARCHIVE}"]
    assert job.pyspark_job.properties["spark.sql.session.timeZone"] == "UTC"
    assert job.pyspark_job.properties["spark.driver.memory"] == config.spark.driver_memory


def test_code_uri_is_configured_or_derived_from_the_bucket() -> None:
    assert code_uri(_gcp_config(code_uri="gs://other/code/")) == "gs://other/code"
    assert code_uri(_gcp_config(bucket="b1")) == "gs://b1/rankct-code"
    with pytest.raises(ConfigError, match="gcp.code_uri nor gcp.bucket") as failure:
        code_uri(load_config("local", environ={}))
    assert "rankct gcp stage-code" in failure.value.hint


def test_the_package_zip_is_reproducible_and_importable(tmp_path) -> None:
    first, second = code_archive(), code_archive()
    assert first == second
    archive = tmp_path / CODE_ARCHIVE
    archive.write_bytes(first)
    names = zipfile.ZipFile(archive).namelist()
    assert "rankct/gcp/dataproc.py" in names and all(n.endswith(".py") for n in names)
    # What a Dataproc driver does with python_file_uris: the zip first on the path.
    probe = (f"import sys; sys.path.insert(0, {str(archive)!r}); import rankct.config, "
             "rankct.contract; print(rankct.contract.__file__)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, env={"PATH": "/usr/bin:/bin"}).stdout
    assert out.strip().startswith(str(archive)), out


def test_the_gate_links_its_bigquery_job_in_the_console() -> None:
    from urllib.parse import parse_qs, urlsplit

    from rankct.gcp.clients import job_console_url

    url = urlsplit(job_console_url(_gcp_config(project="market", location="EU").gcp, "job_1"))
    assert url.netloc == "console.cloud.google.com" and url.path == "/bigquery"
    assert parse_qs(url.query) == {"project": ["market"], "j": ["bq:EU:job_1"],
                                   "page": ["queryresults"]}
