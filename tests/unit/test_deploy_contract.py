"""The deployment contract on a real export bundle: a payload rankct signs is accepted by the
verifier; a tampered, stale, future, replayed, wrong-secret, unknown-schema or undeployable
payload is refused, and so is a bundle with a file the signature does not cover. The verifier
runs with the standard library alone (`python -S`), as the deploy workflow runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rankct.deploy.contract import (
    Decision,
    DeploymentPayload,
    DeploymentRefused,
    parse_duration,
    sign,
    verify_delivery,
)
from rankct.digests import tree_digests
from rankct.errors import RankctError
from rankct.export.bundle import export_bundle

from tests.unit.test_bundle import FEATURES, make_booster, make_data

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
SECRET = "contract-test-secret"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    frame = make_data(seed=5)
    return export_bundle(make_booster(frame), FEATURES, frame,
                         tmp_path_factory.mktemp("exports"), version=7)


def issue(bundle, *, now=NOW, decision=Decision.PROMOTED, version="7") -> DeploymentPayload:
    return DeploymentPayload.issue(
        "marketplace_ranker", version, decision, onnx_sha256=bundle.onnx_sha256,
        files=tree_digests(bundle.root), now=now,
        artifacts={"bundle": "file:///mlflow/artifacts/1/abc/artifacts/export/7"},
        metrics={"test_ndcg_at_10": 0.61}, context={"day": "2026-12-01"})


def verify(body: bytes, signature: str, **kwargs) -> DeploymentPayload:
    return verify_delivery(body, signature, SECRET, now=kwargs.pop("now", NOW), **kwargs)


def test_a_signed_payload_and_its_bundle_are_accepted(bundle) -> None:
    payload = issue(bundle)
    body = payload.encode()
    accepted = verify(body, sign(body, SECRET), bundle=bundle.root)
    assert accepted == payload and accepted.decision is Decision.PROMOTED
    document = json.loads(body)
    assert document["schema_version"] == 1 and len(document["delivery_id"]) == 32
    assert document["issued_at"] == "2026-12-02T12:00:00Z"
    # Every file of the bundle is covered, the Triton copy and the Vespa package included.
    assert set(document["files"]) >= {"model.onnx", "manifest.json", "vespa-app.zip",
                                      "triton/marketplace_ranker/7/model.onnx",
                                      "triton/marketplace_ranker/config.pbtxt"}
    assert issue(bundle).delivery_id != payload.delivery_id  # a new one for every payload


@pytest.mark.parametrize("tamper", ["body", "signature", "secret"])
def test_an_altered_or_foreign_payload_is_refused(bundle, tamper) -> None:
    body = issue(bundle).encode()
    signature = sign(body, SECRET)
    if tamper == "body":
        body = body.replace(b'"version":"7"', b'"version":"6"')
    if tamper == "signature":
        signature = sign(body, "another-secret")
    with pytest.raises(DeploymentRefused, match="signature does not match"):
        verify_delivery(body, signature, "yet-another" if tamper == "secret" else SECRET,
                        now=NOW)
    with pytest.raises(DeploymentRefused, match="no webhook secret"):
        verify_delivery(body, signature, "", now=NOW)


def test_a_stale_or_future_payload_is_refused(bundle) -> None:
    old = issue(bundle, now=NOW - timedelta(hours=3)).encode()
    with pytest.raises(DeploymentRefused, match="more than the 2:00:00 allowed"):
        verify(old, sign(old, SECRET))
    assert verify(old, sign(old, SECRET), max_age=timedelta(hours=4))
    ahead = issue(bundle, now=NOW + timedelta(hours=1)).encode()
    with pytest.raises(DeploymentRefused, match="in the future"):
        verify(ahead, sign(ahead, SECRET))


def test_a_replay_of_an_older_delivery_is_refused(bundle) -> None:
    serving = issue(bundle, now=NOW - timedelta(minutes=10))
    again = serving.encode()
    with pytest.raises(DeploymentRefused, match="already deployed"):
        verify(again, sign(again, SECRET), serving=serving)
    older = issue(bundle, now=NOW - timedelta(minutes=20), version="6").encode()
    with pytest.raises(DeploymentRefused, match="not newer than the deployment serving now"):
        verify(older, sign(older, SECRET), serving=serving)
    newer = issue(bundle, decision=Decision.ROLLED_BACK).encode()
    assert verify(newer, sign(newer, SECRET), serving=serving).decision is Decision.ROLLED_BACK


@pytest.mark.parametrize("change", [
    ("schema_version", 2, "unknown payload schema_version 2"),
    ("decision", "promote", "decision 'promote' is not deployable"),
    ("decision", "rejected", "decision 'rejected' is not deployable"),
    ("model", "../other", "model='../other' is malformed"),
    ("onnx_sha256", "ab" * 32, "is not its onnx_sha256"),
    ("extra_field", "x", "unknown field"),
])
def test_a_payload_outside_the_schema_is_refused_even_when_signed(bundle, change) -> None:
    field, value, message = change
    document = json.loads(issue(bundle).encode())
    document[field] = value
    body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(DeploymentRefused, match=message.replace("(", r"\(")):
        verify(body, sign(body, SECRET))


def test_a_bundle_file_the_signature_does_not_cover_is_refused(bundle, tmp_path) -> None:
    import shutil

    body = issue(bundle).encode()
    signature = sign(body, SECRET)
    damages = {
        "extra.sh: not in the signed payload":
            lambda root: (root / "extra.sh").write_text("curl evil"),
        "triton/marketplace_ranker/7/model.onnx: sha256":
            lambda root: (root / "triton/marketplace_ranker/7/model.onnx").write_bytes(b"junk"),
        "vespa-app.zip: missing": lambda root: (root / "vespa-app.zip").unlink(),
    }
    for message, damage in damages.items():
        copy = tmp_path / f"bundle-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(bundle.root, copy)
        damage(copy)
        with pytest.raises(DeploymentRefused, match=message):
            verify(body, signature, bundle=copy)


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("2h") == parse_duration("7200")
    with pytest.raises(RankctError, match="not a duration"):
        parse_duration("soon")


def _verify_cli(*args: str, secret: str = SECRET) -> subprocess.CompletedProcess:
    """`rankct deploy verify` as the workflow runs it: no site-packages, plugins/ on the path."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(PLUGINS),
           "RANKCT_WEBHOOK_SECRET": secret}
    return subprocess.run([sys.executable, "-S", "-m", "rankct", "deploy", "verify", *args],
                          env=env, capture_output=True, text=True, timeout=60, check=False)


def test_the_verifier_needs_only_the_standard_library(bundle, tmp_path) -> None:
    payload = issue(bundle, now=datetime.now(UTC))
    body_file = tmp_path / "payload.json"
    body_file.write_bytes(payload.encode())
    signature = sign(payload.encode(), SECRET)
    outputs = tmp_path / "github_output"
    ok = _verify_cli("--payload", str(body_file), "--signature", signature,
                     "--bundle", str(bundle.root), "--github-output", str(outputs))
    assert ok.returncode == 0, ok.stderr
    assert "verified: marketplace_ranker v7" in ok.stdout
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert written["model"] == "marketplace_ranker" and written["version"] == "7"
    assert written["bundle_uri"] == payload.artifacts["bundle"]
    refused = _verify_cli("--payload", str(body_file), "--signature", signature,
                          secret="wrong")
    assert refused.returncode == 3 and "signature does not match" in refused.stderr
    serving = tmp_path / "serving.json"
    serving.write_bytes(payload.encode())
    replay = _verify_cli("--payload", str(body_file), "--signature", signature,
                         "--serving", str(serving))
    assert replay.returncode == 3 and "already deployed" in replay.stderr
