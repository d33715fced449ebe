"""The model gate on what the evaluate stage left, then the serving artifacts and the
deployment notification for a promoted challenger."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from rankct.config import RankctConfig
from rankct.pipeline.day import DayRun


def _verdict(summary: dict[str, Any]) -> Any:
    from rankct.gates.checks import Check, Verdict

    extra = {k: v for k, v in summary.items() if k not in ("passed", "reasons", "checks")}
    return Verdict([Check(**check) for check in summary["checks"]], extra)


def gate_challenger(config: RankctConfig, day: date) -> dict[str, Any]:
    """Judge the day's challenger: promote it (alias ``champion``) or reject it with reasons.

    Returns the decision; a rejection is an outcome, not an error (the run goes on to report it).
    """
    from rankct.evaluation.comparison import Churn
    from rankct.export.parity import ParityReport
    from rankct.gates.apply import decide_and_apply
    from rankct.registry import open_store

    run = DayRun(config, day)
    evaluated = run.read("evaluate")
    per_request = {name: pd.read_parquet(run.evaluation / f"per_request_{name}.parquet")
                   for name in evaluated["metrics"]}
    champion = evaluated["champion"]
    decision = decide_and_apply(
        open_store(config), config, evaluated["version"], challenger=per_request["challenger"],
        champion=per_request.get("champion"), evaluated_champion=champion,
        data_gate=_verdict(run.read("validate_training_set")),
        churn=Churn(**evaluated["churn"]) if evaluated["churn"] else None,
        slices=pd.read_parquet(run.evaluation / "slices_challenger.parquet"),
        parity=ParityReport(**evaluated["parity"]))
    return run.write("gate", {
        "version": decision.version, "passed": decision.passed, "reasons": decision.reasons,
        "outcome": "promoted" if decision.passed else "rejected", "champion": decision.champion,
        "replaced": decision.replaced, "record": str(decision.record)})


def ship_champion(config: RankctConfig, day: date) -> dict[str, Any]:
    """Export the promoted version (ONNX with parity, Vespa, Triton), log the bundle to its run,
    tag its sha256, and send the signed deployment notification.

    A failed notification does not undo the promotion: it is recorded and reported as
    ``notify.status == "failed"`` for the caller to alert on.
    """
    import mlflow

    from rankct.export.bundle import export_bundle, log_bundle
    from rankct.notify import build_payload, notify
    from rankct.pipeline.challenger import load_training_set
    from rankct.registry import load_booster, open_store, set_version_tags
    from rankct.registry.store import TAG_ONNX_SHA256
    from rankct.training.split import split_by_time

    run = DayRun(config, day)
    decision = run.read("gate")
    if not decision["passed"]:
        return run.write("ship", {"version": decision["version"], "shipped": False,
                                  "reason": "rejected by the gate: nothing to ship"})
    version = decision["version"]
    store = open_store(config)
    booster = load_booster(store, version)
    frame, _ = load_training_set(run)
    test = split_by_time(frame, config.training.split).test
    bundle = export_bundle(booster, list(booster.feature_names), test,
                           config.home / "exports" / store.model_name, version=int(version),
                           model_name=store.model_name)
    run_id = store.client.get_model_version(store.model_name, version).run_id
    with store.activated(), mlflow.start_run(run_id=run_id):
        logged = log_bundle(bundle)
    set_version_tags(store, version, {TAG_ONNX_SHA256: bundle.onnx_sha256})
    metrics = run.read("evaluate")["metrics"]["challenger"]
    payload = build_payload(store.model_name, version, logged["model_uri"], bundle.onnx_sha256,
                            {k: v for k, v in metrics.items() if k.startswith("ndcg")},
                            "promoted", artifacts={"bundle": logged["artifact_uri"]},
                            day=day.isoformat(), decision_record=decision["record"])
    sent = notify(payload, config.notify, record_dir=run.root)
    return run.write("ship", {
        "version": version, "shipped": True, "bundle": str(bundle.root),
        "onnx": str(bundle.onnx_path), "onnx_sha256": bundle.onnx_sha256,
        "vespa_zip": str(bundle.vespa_zip), "triton": str(bundle.triton_dir),
        "notify": {"status": sent.status, "attempts": sent.attempts, "error": sent.error}})
