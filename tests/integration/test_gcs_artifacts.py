"""MLflow artifacts on Cloud Storage (the storage emulator): with the gcp profile's gs://
artifact root, a run's artifacts are written to the bucket, their URI is gs://, and they come
back byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from rankct.gcp.clients import storage_client
from rankct.registry.store import open_store

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _with_bucket(bq_config, name: str, tmp_path: Path, monkeypatch):
    """The test's gcp config with a new bucket of its own on the emulator, and MLflow's
    artifact root in it; STORAGE_EMULATOR_HOST (which open_store sets) is removed afterwards."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "unset-by-the-test")
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    cfg = bq_config.model_copy(deep=True)
    cfg.home = tmp_path / "home"
    bucket = f"{name}-{bq_config.gcp.dataset.lower().replace('_', '-')}"[:60]
    cfg.gcp = cfg.gcp.model_copy(update={"bucket": bucket})
    cfg.mlflow = cfg.mlflow.model_copy(update={"artifact_root": f"gs://{bucket}/mlflow"})
    storage_client(cfg.gcp).create_bucket(bucket)
    return cfg, bucket


def test_run_artifacts_go_to_the_bucket(bq_config, tmp_path, monkeypatch) -> None:
    import mlflow

    cfg, bucket = _with_bucket(bq_config, "artifacts", tmp_path, monkeypatch)
    client = storage_client(cfg.gcp)
    store = open_store(cfg)
    payload = tmp_path / "model.onnx"
    payload.write_bytes(b"\x08\x07onnx-bytes")
    with store.activated(), mlflow.start_run(experiment_id=store.experiment_id()) as run:
        mlflow.log_artifact(str(payload), "bundle")
    assert run.info.artifact_uri.startswith(f"gs://{bucket}/mlflow/")
    names = [b.name for b in client.list_blobs(bucket)]
    assert any(n.endswith("/artifacts/bundle/model.onnx") for n in names), names
    with store.activated():
        local = mlflow.artifacts.download_artifacts(f"{run.info.artifact_uri}/bundle/model.onnx",
                                                    dst_path=str(tmp_path / "back"))
    assert Path(local).read_bytes() == payload.read_bytes()


def test_stage_code_puts_what_the_dataproc_job_names_in_the_bucket(bq_config, tmp_path,
                                                                   monkeypatch) -> None:
    """`rankct gcp stage-code` uploads every object the Dataproc job message refers to."""
    from rankct.gcp.dataproc import code_archive, pyspark_job, stage_code

    cfg, bucket = _with_bucket(bq_config, "code", tmp_path, monkeypatch)
    client = storage_client(cfg.gcp)
    staged = stage_code(cfg)
    job = pyspark_job(cfg, "build_features.py", ["--date", "2026-11-05"], "build_features")
    named = [job["pyspark_job"]["main_python_file_uri"], *job["pyspark_job"]["python_file_uris"]]
    present = {f"gs://{bucket}/{b.name}" for b in client.list_blobs(bucket)}
    assert set(named) <= present == set(staged.values())
    archive = client.bucket(bucket).blob("rankct-code/rankct.zip").download_as_bytes()
    assert archive == code_archive()
    assert stage_code(cfg) == staged  # again: the same objects, replaced whole


def test_the_deploy_workflow_fetches_and_checks_a_bundle_on_cloud_storage(
        bq_config, tmp_path, monkeypatch) -> None:
    """The workflow's own fetch and check steps on a bundle MLflow wrote to gs:// (the
    emulator): the files come back as signed."""
    import mlflow
    from rankct.deploy.contract import Decision, DeploymentPayload, sign
    from rankct.digests import tree_digests
    from rankct.export.bundle import export_bundle

    from tests.unit.test_bundle import FEATURES, make_booster, make_data
    from tests.workflow import checkout, load_workflow, run_step

    cfg, _ = _with_bucket(bq_config, "deploy", tmp_path, monkeypatch)
    frame = make_data(seed=8)
    bundle = export_bundle(make_booster(frame), FEATURES, frame, tmp_path / "export", version=4)
    store = open_store(cfg)
    with store.activated(), mlflow.start_run(experiment_id=store.experiment_id()) as run:
        mlflow.log_artifacts(str(bundle.root), "export/4")
    bundle_uri = f"{run.info.artifact_uri}/export/4"
    assert bundle_uri.startswith("gs://")
    secret = "workflow-test-secret"
    payload = DeploymentPayload.issue(
        "marketplace_ranker", 4, Decision.PROMOTED, onnx_sha256=bundle.onnx_sha256,
        files=tree_digests(bundle.root), artifacts={"bundle": bundle_uri})
    body = payload.encode()
    workflow, cwd = load_workflow(), checkout(tmp_path / "runner")
    fetched = run_step(workflow, "Fetch the export bundle", {
        "BUNDLE_URI": bundle_uri, "STORAGE_EMULATOR_HOST": cfg.gcp.storage_endpoint}, cwd)
    assert fetched.returncode == 0, fetched.stderr[-2000:]
    assert tree_digests(cwd / "bundle") == payload.files
    checked = run_step(workflow, "Check every file against the signed payload", {
        "RANKCT_PAYLOAD": body.decode(), "RANKCT_SIGNATURE": sign(body, secret),
        "RANKCT_WEBHOOK_SECRET": secret, "MAX_AGE": "2h"}, cwd)
    assert checked.returncode == 0, checked.stderr[-2000:]
