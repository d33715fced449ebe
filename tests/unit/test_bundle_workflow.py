"""The deploy workflow: it parses, listens for rankct's dispatch, and its Python steps really
verify the signature rankct makes and the digests of a real bundle."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rankct.export.bundle import export_bundle
from rankct.notify import EVENT_TYPE, build_payload, encode, sign

from tests.unit.test_bundle import FEATURES, make_booster, make_data

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "deploy-model.yml"
SECRET = "workflow-test-secret"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _step(workflow: dict, name: str) -> dict:
    steps = workflow["jobs"]["deploy"]["steps"]
    return next(s for s in steps if s.get("name", "").startswith(name))


def _run(step: dict, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    assert step["shell"] == "python"
    return subprocess.run([sys.executable, "-c", step["run"]], check=False,
                          env={**os.environ, **env},
                          cwd=cwd, capture_output=True, text=True, timeout=60)


def test_triggered_by_rankct_dispatch(workflow) -> None:
    # YAML 1.1 reads the bare key `on` as True.
    trigger = workflow.get("on", workflow.get(True))
    assert trigger == {"repository_dispatch": {"types": [EVENT_TYPE]}}
    steps = [s.get("name", s.get("uses")) for s in workflow["jobs"]["deploy"]["steps"]]
    assert steps[0] == "Verify payload signature"
    assert any("vespa" in s.lower() for s in steps) and any("triton" in s.lower() for s in steps)
    text = WORKFLOW.read_text()
    assert '"$VESPA" deploy bundle/vespa-app.zip' in text and "/v2/repository/models/" in text


@pytest.mark.parametrize("tamper", [None, "signature", "body", "decision"])
def test_signature_step_accepts_only_rankct_signed_payloads(workflow, tmp_path, tamper) -> None:
    payload = build_payload("marketplace_ranker", 4, "models:/m-1", "ab" * 32, {"ndcg": 0.6},
                            "reject" if tamper == "decision" else "promote",
                            artifacts={"bundle": "gs://mlflow/1/abc/artifacts/export/4"})
    body = encode(payload)
    signature = sign(body, SECRET)
    if tamper == "signature":
        signature = sign(body, "another-secret")
    if tamper == "body":
        body = body.replace(b'"4"', b'"5"')
    output = tmp_path / "github_output"
    result = _run(_step(workflow, "Verify payload signature"),
                  {"RANKCT_PAYLOAD": body.decode(), "RANKCT_SIGNATURE": signature,
                   "RANKCT_WEBHOOK_SECRET": SECRET, "GITHUB_OUTPUT": str(output)}, tmp_path)
    if tamper is None:
        assert result.returncode == 0, result.stderr
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
        assert outputs == {"model": "marketplace_ranker", "version": "4",
                           "onnx_sha256": "ab" * 32,
                           "bundle_uri": "gs://mlflow/1/abc/artifacts/export/4"}
    else:
        assert result.returncode != 0 and not output.exists()


def test_digest_step_checks_a_real_bundle(workflow, tmp_path) -> None:
    frame = make_data(seed=8)
    bundle = export_bundle(make_booster(frame), FEATURES, frame, tmp_path / "x", version=4)
    (tmp_path / "bundle").symlink_to(bundle.root)
    step = _step(workflow, "Check digests")
    assert _run(step, {"ONNX_SHA256": bundle.onnx_sha256}, tmp_path).returncode == 0
    assert _run(step, {"ONNX_SHA256": "cd" * 32}, tmp_path).returncode != 0
    (bundle.root / "triton" / "marketplace_ranker" / "4" / "model.onnx").write_bytes(b"junk")
    failed = _run(step, {"ONNX_SHA256": bundle.onnx_sha256}, tmp_path)
    assert failed.returncode != 0 and "triton/marketplace_ranker/4/model.onnx" in failed.stderr
