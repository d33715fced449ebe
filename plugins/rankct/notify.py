"""Deployment notification: a signed webhook announcing a version to deploy.

The body is the deployment payload of :mod:`rankct.deploy.contract` (the schema both sides
share); ``X-Rankct-Signature: sha256=<hex>`` is the HMAC-SHA256 of exactly those bytes under a
secret read from the environment, so the receiver (the deploy workflow, ``rankct deploy
verify``) can prove the payload came from rankct and was not altered. A notification that cannot
be delivered never raises into the promotion: it is logged at ERROR, recorded as JSON next to the
decision and returned as a failed result, which the caller turns into an alert.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rankct.config import NotifyConfig
from rankct.deploy.contract import DELIVERY_HEADER, SIGNATURE_HEADER, DeploymentPayload, sign
from rankct.io import write_json_atomic

log = logging.getLogger(__name__)
RECORD_NAME = "notify.json"


@dataclass(frozen=True)
class NotifyResult:
    """What happened to one notification; ``status`` is ``sent``, ``failed`` or ``skipped``."""

    status: Literal["sent", "failed", "skipped"]
    url: str | None
    attempts: int
    http_status: int | None = None
    error: str | None = None
    delivery_id: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def alert(self) -> bool:
        """True when the caller must raise an alert (the deployment was not triggered)."""
        return self.status == "failed"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "alert": self.alert}


def encode(document: Mapping[str, Any]) -> bytes:
    """Compact, key-sorted JSON bytes of a signed message other than a deployment (alerts)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


def notify(payload: DeploymentPayload, config: NotifyConfig, *,
           record_dir: Path | str | None = None, environ: Mapping[str, str] | None = None,
           sleep: Callable[[float], None] = time.sleep) -> NotifyResult:
    """POST ``payload`` to ``config.url``, signed, with timeout and retries; never raises.

    Retries follow connection errors, timeouts, 429 and 5xx answers, waiting ``backoff_seconds``
    doubled after each try; another 4xx (a rejected signature, a wrong URL) is final. Every
    attempt sends the same bytes and delivery id, so a receiver can drop duplicates. The result
    is written to ``<record_dir>/notify.json`` when ``record_dir`` is given.
    """
    import requests

    environ = os.environ if environ is None else environ
    body, delivery = payload.encode(), payload.delivery_id
    if not config.url:
        result = NotifyResult("skipped", None, 0, error="no notify.url configured")
        return _record(result, record_dir)
    secret = environ.get(config.secret_env)
    if not secret:
        result = NotifyResult("failed", config.url, 0, delivery_id=delivery,
                              error=f"environment variable {config.secret_env} (the webhook "
                                    "secret) is not set; nothing was sent")
        return _record(result, record_dir)
    headers = {"Content-Type": "application/json", "User-Agent": "rankct-notify",
               SIGNATURE_HEADER: sign(body, secret), DELIVERY_HEADER: delivery}
    errors: list[str] = []
    status: int | None = None
    for attempt in range(1, config.retries + 2):
        if attempt > 1:
            sleep(config.backoff_seconds * 2 ** (attempt - 2))
        try:
            response = requests.post(config.url, data=body, headers=headers,
                                     timeout=config.timeout_seconds)
        except requests.Timeout:
            errors.append(f"attempt {attempt}: no answer within {config.timeout_seconds:g}s")
            continue
        except requests.RequestException as exc:
            errors.append(f"attempt {attempt}: {type(exc).__name__}: {exc}")
            continue
        status = response.status_code
        if 200 <= status < 300:
            result = NotifyResult("sent", config.url, attempt, status, None, delivery, errors)
            log.info("deployment webhook accepted by %s (HTTP %s)", config.url, status)
            return _record(result, record_dir)
        errors.append(f"attempt {attempt}: HTTP {status} {response.text[:200]!r}")
        if status != 429 and status < 500:
            break
    result = NotifyResult("failed", config.url, len(errors), status, errors[-1], delivery, errors)
    return _record(result, record_dir)


def _record(result: NotifyResult, record_dir: Path | str | None) -> NotifyResult:
    """Log a failure at ERROR (what alerting watches) and write the result beside the decision."""
    if result.alert:
        log.error("deployment notification to %s failed after %d attempt(s): %s",
                  result.url, result.attempts, result.error)
    if record_dir is not None:
        write_json_atomic(Path(record_dir) / RECORD_NAME, result.as_dict())
    return result
