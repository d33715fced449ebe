"""The deploy workflow: it listens for rankct's dispatch, and its own steps, run from the YAML
under bash, verify what rankct signs (through `rankct deploy verify`, standard library only),
fetch the bundle with the MLflow CLI and check every file; tampered, stale, replayed,
wrong-secret and unknown-schema payloads stop it. The payload the pipeline really sends goes
through the same steps in tests/integration/test_pipeline.py."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from rankct.deploy.contract import EVENT_TYPE, Decision, DeploymentPayload, sign
from rankct.digests import tree_digests
from rankct.export.bundle import export_bundle

from tests.unit.test_bundle import FEATURES, make_booster, make_data
from tests.workflow import WORKFLOW, checkout, load_workflow, outputs, run_step

SECRET = "workflow-test-secret"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return load_workflow()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """A bundle where a run's artifacts keep it (``<run>/artifacts/export/<version>``)."""
    root = tmp_path_factory.mktemp("mlflow") / "1" / "abc" / "artifacts" / "export"
    frame = make_data(seed=8)
    return export_bundle(make_booster(frame), FEATURES, frame, root, version=4)


def payload_of(bundle, now: datetime | None = None, **change) -> DeploymentPayload:
    return DeploymentPayload.issue(
        "marketplace_ranker", 4, Decision.PROMOTED, onnx_sha256=bundle.onnx_sha256,
        files=tree_digests(bundle.root), artifacts={"bundle": bundle.root.as_uri()},
        now=now or datetime.now(UTC), **change)


def delivery_env(body: bytes, signature: str, secret: str = SECRET) -> dict[str, str]:
    return {"RANKCT_PAYLOAD": body.decode(), "RANKCT_SIGNATURE": signature,
            "RANKCT_WEBHOOK_SECRET": secret, "MAX_AGE": "2h"}


def test_triggered_by_rankct_dispatch_and_every_check_is_rankcts(workflow) -> None:
    # YAML 1.1 reads the bare key `on` as True.
    trigger = workflow.get("on", workflow.get(True))
    assert trigger == {"repository_dispatch": {"types": [EVENT_TYPE]}}
    steps = workflow["jobs"]["deploy"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    assert steps[1]["name"] == "Verify the signed payload"
    names = [s.get("name", s.get("uses")) for s in steps]
    assert names.index("Check every file against the signed payload") < names.index(
        "Deploy the Vespa application package")
    text = WORKFLOW.read_text()
    assert text.count("python3 -S -m rankct deploy verify") == 2
    assert '"$VESPA" deploy bundle/vespa-app.zip' in text and "/v2/repository/models/" in text
    # The model and version deployed come from the signed payload, never from the bundle.
    assert "manifest.json" not in " ".join(s.get("run", "") for s in steps)
    for step in steps:
        assert "${{" not in step.get("run", ""), step.get("name")


@pytest.mark.parametrize("tamper", [None, "signature", "body", "secret", "stale", "schema",
                                    "decision"])
def test_verify_step_accepts_only_a_fresh_rankct_signed_payload(workflow, artifacts, tmp_path,
                                                                 tamper) -> None:
    cwd = checkout(tmp_path)
    payload = payload_of(artifacts, now=datetime.now(UTC) - timedelta(
        hours=3 if tamper == "stale" else 0))
    body = payload.encode()
    if tamper in ("schema", "decision"):  # signed by rankct's key, but not a known payload
        document = json.loads(body)
        document.update({"schema": {"schema_version": 2},
                         "decision": {"decision": "promote"}}[tamper])
        body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    signature = sign(body, "another-secret" if tamper == "signature" else SECRET)
    if tamper == "body":
        body = body.replace(b'"version":"4"', b'"version":"5"')
    env = delivery_env(body, signature, "wrong-secret" if tamper == "secret" else SECRET)
    result = run_step(workflow, "Verify the signed payload", env, cwd)
    if tamper is None:
        assert result.returncode == 0, result.stderr
        assert outputs(cwd) == {"model": "marketplace_ranker", "version": "4",
                                "bundle_uri": artifacts.root.as_uri(),
                                "onnx_sha256": artifacts.onnx_sha256,
                                "delivery_id": payload.delivery_id, "decision": "promoted"}
    else:
        assert result.returncode == 3, (tamper, result.stdout, result.stderr)
        assert "rankct deploy: " in result.stderr and not outputs(cwd)


def test_fetch_and_check_steps_deploy_only_signed_files(workflow, artifacts, tmp_path) -> None:
    cwd = checkout(tmp_path)
    payload = payload_of(artifacts)
    body = payload.encode()
    env = delivery_env(body, sign(body, SECRET))
    fetched = run_step(workflow, "Fetch the export bundle from MLflow",
                       {"BUNDLE_URI": payload.artifacts["bundle"]}, cwd)
    assert fetched.returncode == 0, fetched.stderr
    assert tree_digests(cwd / "bundle") == payload.files
    check = "Check every file against the signed payload"
    ok = run_step(workflow, check, env, cwd)
    assert ok.returncode == 0, ok.stderr
    assert f"{len(payload.files)} file digests" in ok.stdout

    # The deployment serving now is this very delivery: a replay.
    (cwd / "serving-deployment.json").write_bytes(body)
    replay = run_step(workflow, check, env, cwd)
    assert replay.returncode == 3 and "already deployed" in replay.stderr
    (cwd / "serving-deployment.json").unlink()

    # A file changed after signing (here the model Triton would load) stops the deployment.
    (cwd / "bundle" / "triton" / "marketplace_ranker" / "4" / "model.onnx").write_bytes(b"junk")
    tampered = run_step(workflow, check, env, cwd)
    assert tampered.returncode == 3
    assert "triton/marketplace_ranker/4/model.onnx: sha256" in tampered.stderr
    shutil.rmtree(cwd / "bundle")
    missing = run_step(workflow, check, env, cwd)
    assert missing.returncode == 3 and "does not exist" in missing.stderr
