"""``rankct status``: what serves, what was tried last, how the recent runs ended, where the
artifacts are, and what alerted. Read from the registry and the state folder only, so it works
with or without Airflow running."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from rankct.config import RankctConfig
from rankct.pipeline.day import DayRun


def recent_outcomes(config: RankctConfig, limit: int = 14) -> list[dict[str, Any]]:
    """The recorded outcomes of the newest training runs, newest first."""
    folders = sorted((config.home / "runs").glob("dt=*"), reverse=True)
    outcomes = []
    for folder in folders:
        outcome = DayRun(config, date.fromisoformat(folder.name.removeprefix("dt="))).outcome()
        if outcome:
            outcomes.append(outcome)
        if len(outcomes) == limit:
            break
    return outcomes


def _version(store: Any, version: str | None) -> dict[str, Any] | None:
    from rankct.registry.store import (
        TAG_DATA_INTERVAL,
        TAG_GATE_DECISION,
        TAG_GATE_REASONS,
        TAG_ONNX_SHA256,
    )

    if version is None:
        return None
    found = store.client.get_model_version(store.model_name, version)
    metrics = store.client.get_run(found.run_id).data.metrics
    return {"version": version, "run_id": found.run_id,
            "data_interval": found.tags.get(TAG_DATA_INTERVAL),
            "decision": found.tags.get(TAG_GATE_DECISION),
            "reasons": found.tags.get(TAG_GATE_REASONS),
            "onnx_sha256": found.tags.get(TAG_ONNX_SHA256),
            "test_ndcg_at_10": metrics.get("test_ndcg_at_10")}


def platform_status(config: RankctConfig, runs: int = 10) -> dict[str, Any]:
    """Everything ``rankct status`` shows, as JSON-able data."""
    from rankct.alerts import recent_alerts
    from rankct.pipeline.scoring import scored_days
    from rankct.registry import alias_version, open_store
    from rankct.registry.store import ALIAS_CHALLENGER, ALIAS_CHAMPION, ALIAS_PREVIOUS

    store = open_store(config)
    champion = _version(store, alias_version(store, ALIAS_CHAMPION))
    if champion:
        bundle = config.home / "exports" / store.model_name / champion["version"]
        champion["bundle"] = str(bundle) if bundle.exists() else None
        champion["onnx"] = str(bundle / "model.onnx") if bundle.exists() else None
    monitoring = sorted((config.home / "monitoring").glob("dt=*"))
    checks = ({p.stem: json.loads(p.read_text()) for p in sorted(monitoring[-1].glob("*.json"))}
              if monitoring else {})
    scoring = scored_days(config)
    return {
        "home": str(config.home), "profile": config.profile, "model": store.model_name,
        "champion": champion,
        "challenger": _version(store, alias_version(store, ALIAS_CHALLENGER)),
        "previous_champion": _version(store, alias_version(store, ALIAS_PREVIOUS)),
        "runs": recent_outcomes(config, runs),
        "scoring": scoring[-1] if scoring else None,
        "monitoring": {"day": monitoring[-1].name.removeprefix("dt=") if monitoring else None,
                       "checks": {name: {"passed": c["passed"], "detail": c["detail"]}
                                  for name, c in checks.items()}},
        "alerts": recent_alerts(config, 5),
        "artifacts": {"reports": str(config.reports_dir),
                      "exports": str(config.home / "exports" / store.model_name),
                      "recommendations": str(config.data_root / "recommendations"),
                      "mlflow": str(config.home / "mlflow"),
                      "evidently_workspace": str(config.home / "evidently")},
    }


def format_status(status: dict[str, Any]) -> str:
    """The human-readable form of :func:`platform_status`."""
    def version_line(label: str, info: dict[str, Any] | None) -> str:
        if not info:
            return f"{label:<18} none"
        ndcg = info.get("test_ndcg_at_10")
        return (f"{label:<18} v{info['version']}  {info.get('decision') or '-':<8} data "
                f"{info.get('data_interval') or '-'}"
                + (f"  test NDCG@10 {ndcg:.4f}" if ndcg is not None else ""))

    lines = [f"rankct status ({status['profile']} profile, {status['home']})",
             version_line("champion", status["champion"]),
             version_line("challenger", status["challenger"]),
             version_line("previous champion", status["previous_champion"])]
    champion = status["champion"] or {}
    if champion.get("onnx"):
        lines.append(f"{'serving artifacts':<18} {champion['bundle']} "
                     f"(ONNX sha256 {str(champion.get('onnx_sha256'))[:12]}...)")
    challenger = status["challenger"] or {}
    if challenger.get("decision") == "rejected":
        lines.append(f"{'':<18} rejected: {challenger.get('reasons')}")
    lines.append("last training runs:")
    for run in status["runs"] or [{"day": "-", "state": "none yet", "detail": ""}]:
        version = f"v{run['version']}" if run.get("version") else ""
        lines.append(f"  {run['day']}  {run['state']:<24} {version:<5} {run.get('detail', '')}"
                     .rstrip())
    scoring = status["scoring"]
    if scoring:
        lines.append(f"batch scoring: {scoring['day']} by v{scoring.get('version')}: "
                     f"{scoring['rows']:,} recommendations for {scoring['users']:,} users "
                     f"({scoring['path']})")
    monitoring = status["monitoring"]
    if monitoring["day"]:
        verdicts = ", ".join(f"{name} {'ok' if c['passed'] else 'FAILED'}"
                             for name, c in monitoring["checks"].items())
        lines.append(f"monitoring {monitoring['day']}: {verdicts}")
    for alert in status["alerts"]:
        lines.append(f"alert {alert['raised_at'][:19]}  {alert['source']}: "
                     f"{alert['message'].splitlines()[0][:120]}")
    lines.append("artifacts: " + ", ".join(f"{k} {v}" for k, v in status["artifacts"].items()))
    return "\n".join(lines)
