"""Alerts: a failed task or monitoring check, announced to whoever is on call.

Every alert is written as one JSON file under ``<home>/alerts/`` (what ``rankct status`` lists)
and, when ``alerts.url`` is set, POSTed there (a chat webhook or an incident relay), signed like
the deployment notification when ``alerts.secret_env`` holds a key. Raising an alert never
raises: an alert that could not be delivered is still on disk, marked undelivered.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rankct.config import RankctConfig
from rankct.io import write_json_atomic

log = logging.getLogger(__name__)


@dataclass
class Alert:
    """What failed, for which day, why, and where to look."""

    source: str  # e.g. "ranker_monitoring.online_offline_skew"
    message: str
    day: str | None = None
    severity: str = "error"
    links: dict[str, str] = field(default_factory=dict)  # e.g. {"log": "http://..."}
    raised_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    delivery: str = "recorded"  # recorded | sent | undelivered: <why>


def alerts_dir(config: RankctConfig) -> Path:
    return config.home / "alerts"


def raise_alert(config: RankctConfig, alert: Alert) -> Path:
    """Record ``alert`` and send it to ``alerts.url`` if configured; returns the record."""
    if config.alerts.url:
        alert.delivery = _send(config, alert)
    stamp = alert.raised_at.replace(":", "").replace("-", "")[:15]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{stamp}_{alert.source}")
    path = write_json_atomic(alerts_dir(config) / f"{name}.json", asdict(alert))
    log.error("ALERT %s (%s): %s", alert.source, alert.day or "-", alert.message)
    return path


def recent_alerts(config: RankctConfig, limit: int = 10) -> list[dict[str, Any]]:
    """The newest alerts first."""
    files = sorted(alerts_dir(config).glob("*.json"), reverse=True)[:limit]
    return [json.loads(path.read_text()) for path in files]


def _send(config: RankctConfig, alert: Alert) -> str:
    import requests

    from rankct.deploy.contract import SIGNATURE_HEADER, sign
    from rankct.notify import encode

    body = encode({"event": "rankct-alert", **asdict(alert)})
    headers = {"Content-Type": "application/json", "User-Agent": "rankct-alert"}
    secret = os.environ.get(config.alerts.secret_env)
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    try:
        response = requests.post(config.alerts.url, data=body, headers=headers,
                                 timeout=config.alerts.timeout_seconds)
    except requests.RequestException as exc:
        return f"undelivered: {type(exc).__name__}: {exc}"
    if not 200 <= response.status_code < 300:
        return f"undelivered: HTTP {response.status_code}"
    return "sent"
