"""Signed deployment webhook against a local HTTP server: signature, retries, give-up, timeout;
what the receiver got passes the receiver's own verification."""

from __future__ import annotations

import json
import logging

import pytest
from rankct.config import NotifyConfig, RankctConfig
from rankct.deploy.contract import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    Decision,
    DeploymentPayload,
    DeploymentRefused,
    sign,
    signature_matches,
    verify_delivery,
)
from rankct.notify import notify

from tests.webhook import Receiver

SECRET = "s3cret-for-tests"
ENV = {"RANKCT_WEBHOOK_SECRET": SECRET}


@pytest.fixture
def payload() -> DeploymentPayload:
    return DeploymentPayload.issue(
        "marketplace_ranker", 7, Decision.PROMOTED, onnx_sha256="ab" * 32,
        files={"model.onnx": "ab" * 32, "manifest.json": "cd" * 32},
        artifacts={"bundle": "file:///mlflow/1/r1/artifacts/export/7"},
        metrics={"test_ndcg_at_10": 0.61})


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _config(url: str, **kw) -> NotifyConfig:
    return NotifyConfig(url=url, **{"timeout_seconds": 2.0, "retries": 3, "backoff_seconds": 0.5,
                                    **kw})


def test_signed_body_retried_after_500_then_sent(payload, sleeps, tmp_path) -> None:
    with Receiver([500, 503]) as hook:
        result = notify(payload, _config(hook.url), record_dir=tmp_path, environ=ENV,
                        sleep=sleeps.append)
    assert result.status == "sent" and not result.alert
    assert result.attempts == 3 and result.http_status == 200
    assert len(hook.requests) == 3
    # Backoff doubles: 0.5s then 1s before the second and third attempts.
    assert sleeps == [0.5, 1.0]
    headers, body = hook.requests[-1]
    assert body == payload.encode() and json.loads(body)["version"] == "7"
    assert headers[SIGNATURE_HEADER] == sign(body, SECRET)
    assert signature_matches(body, SECRET, headers[SIGNATURE_HEADER])
    assert not signature_matches(body + b" ", SECRET, headers[SIGNATURE_HEADER])
    assert not signature_matches(body, "other-secret", headers[SIGNATURE_HEADER])
    # What the receiver got is what its verifier accepts, and only with the right secret.
    assert verify_delivery(body, headers[SIGNATURE_HEADER], SECRET) == payload
    with pytest.raises(DeploymentRefused):
        verify_delivery(body, headers[SIGNATURE_HEADER], "other-secret")
    # Every retry carries the same bytes and delivery id, so the receiver can drop duplicates.
    assert {h[DELIVERY_HEADER] for h, _ in hook.requests} == {payload.delivery_id}
    assert {b for _, b in hook.requests} == {body}
    record = json.loads((tmp_path / "notify.json").read_text())
    assert record["status"] == "sent" and record["attempts"] == 3 and record["alert"] is False


def test_gives_up_after_retries_records_failure_without_raising(payload, sleeps, tmp_path,
                                                                caplog) -> None:
    with Receiver([500] * 10) as hook, caplog.at_level(logging.ERROR, logger="rankct.notify"):
        result = notify(payload, _config(hook.url, retries=2), record_dir=tmp_path, environ=ENV,
                        sleep=sleeps.append)
    assert result.status == "failed" and result.alert
    assert len(hook.requests) == 3 == result.attempts and result.http_status == 500
    assert "HTTP 500" in result.error
    assert any(r.levelno == logging.ERROR and "failed after 3" in r.message
               for r in caplog.records)
    record = json.loads((tmp_path / "notify.json").read_text())
    assert record["status"] == "failed" and record["alert"] is True and len(record["errors"]) == 3


def test_client_error_is_not_retried(payload, sleeps) -> None:
    with Receiver([401]) as hook:
        result = notify(payload, _config(hook.url), environ=ENV, sleep=sleeps.append)
    assert result.status == "failed" and len(hook.requests) == 1 and sleeps == []


def test_timeout_is_honoured(payload, sleeps) -> None:
    with Receiver([200], delay=1.5) as hook:
        result = notify(payload, _config(hook.url, timeout_seconds=0.2, retries=0), environ=ENV,
                        sleep=sleeps.append)
    assert result.status == "failed"
    assert "no answer within 0.2s" in result.error


def test_unreachable_endpoint_and_missing_secret_fail_softly(payload, sleeps, tmp_path) -> None:
    with Receiver([]) as hook:
        url = hook.url
    # The server is closed: connection refused on every attempt.
    result = notify(payload, _config(url, retries=1), environ=ENV, sleep=sleeps.append)
    assert result.status == "failed" and result.attempts == 2 and "ConnectionError" in result.error
    no_secret = notify(payload, _config(url), record_dir=tmp_path, environ={})
    assert no_secret.status == "failed" and "RANKCT_WEBHOOK_SECRET" in no_secret.error
    assert no_secret.attempts == 0


def test_no_url_is_skipped_and_config_has_a_notify_section(payload) -> None:
    assert notify(payload, NotifyConfig(), environ=ENV).status == "skipped"
    cfg = RankctConfig.model_validate({"notify": {"url": "https://relay.example/hook",
                                                  "retries": 5}})
    assert cfg.notify.retries == 5 and cfg.notify.secret_env == "RANKCT_WEBHOOK_SECRET"
