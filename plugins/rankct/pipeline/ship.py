"""Serving artifacts for a challenger the gate passed, and the deployment notification once it
is the champion.

The export runs before the promotion, so the version the alias ``champion`` names always has
its ONNX model (with parity proof), Vespa package and Triton repository in place.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from rankct.config import RankctConfig
from rankct.errors import RankctError
from rankct.pipeline.day import DayRun


def export_challenger(config: RankctConfig, day: date) -> dict[str, Any]:
    """Export the day's passed challenger (ONNX with parity, Vespa, Triton), log the bundle to
    its MLflow run (onnx flavour) and tag the version with the ONNX sha256."""
    import mlflow

    from rankct.export.bundle import export_bundle, log_bundle
    from rankct.pipeline.challenger import load_training_set
    from rankct.registry import load_booster, open_store, set_version_tags
    from rankct.registry.store import TAG_ONNX_MODEL_URI, TAG_ONNX_SHA256
    from rankct.registry.urls import artifact_url
    from rankct.training.split import split_by_time

    run = DayRun(config, day)
    decision = run.read("gate")
    if not decision["passed"]:
        raise RankctError(f"version {decision['version']} was rejected by the gate of {day}: "
                          "nothing to export", hint="only a passed challenger is exported")
    version = str(decision["version"])
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
    set_version_tags(store, version, {TAG_ONNX_SHA256: bundle.onnx_sha256,
                                      TAG_ONNX_MODEL_URI: logged["model_uri"]})
    return run.write("export", {
        "version": version, "bundle": str(bundle.root), "onnx": str(bundle.onnx_path),
        "onnx_sha256": bundle.onnx_sha256, "onnx_uri": logged["model_uri"],
        "artifact_uri": logged["artifact_uri"], "vespa_zip": str(bundle.vespa_zip),
        "triton": str(bundle.triton_dir),
        "mlflow_url": artifact_url(config, store, run_id, "bundle")})


def notify_deployment(config: RankctConfig, day: date) -> dict[str, Any]:
    """POST the signed deployment payload of the day's promotion to ``notify.url`` (timeout,
    retries with backoff).

    Raises :class:`rankct.deploy.announce.AnnouncementFailed` after recording ``notify.json`` when every attempt
    failed; the promotion is not undone. Without a configured URL the notification is recorded
    as skipped. A version that is no longer the champion (a later day promoted another, or it
    was rolled back) is not announced: that would deploy what the registry does not serve.
    """
    from rankct.deploy.announce import AnnouncementFailed, announce
    from rankct.deploy.contract import Decision
    from rankct.registry import open_store

    run = DayRun(config, day)
    promoted = run.read("promote")
    sent = announce(config, open_store(config), promoted["version"], Decision.PROMOTED,
                    context={"day": day.isoformat(), "decision_record": run.read("gate")["record"]},
                    record_dir=run.root)
    result = sent.result
    summary = run.write("notification", {
        "version": promoted["version"], "status": result.status, "attempts": result.attempts,
        "error": result.error,
        "delivery_id": sent.payload.delivery_id if sent.payload else None,
        "record": str(sent.record) if sent.record else None})
    if result.status == "failed":
        raise AnnouncementFailed(
            f"the deployment webhook {config.notify.url} refused the promotion of version "
            f"{promoted['version']} after {result.attempts} attempt(s): {result.error}",
            hint="the champion stays promoted; fix the receiver, then announce it again with "
                 "`rankct deploy notify` (run folder: notify.json)")
    return summary
