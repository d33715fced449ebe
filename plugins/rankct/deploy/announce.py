"""The sending side of the deployment contract: the payload of a registered version, built from
its export bundle and its registry entry, and its delivery.

Only the champion is ever announced: serving follows the alias, so announcing any other version
(a cleared notify task of an older day, a mistyped ``--version``) would deploy what the registry
does not serve. Every announcement is recorded under ``<home>/deployments/``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rankct.config import RankctConfig
from rankct.deploy.contract import ONNX_FILE, Decision, DeploymentPayload
from rankct.digests import tree_digests
from rankct.errors import RankctError
from rankct.io import write_json_atomic
from rankct.notify import NotifyResult, notify
from rankct.registry.aliases import champion_version
from rankct.registry.store import (
    TAG_DATA_INTERVAL,
    TAG_DECISION_SHA256,
    TAG_ONNX_MODEL_URI,
    TAG_ONNX_SHA256,
    Store,
)

EXPORT_FOLDER = "export"  # where log_bundle puts a bundle among its run's artifacts


class AnnouncementFailed(RankctError):
    """The deployment webhook did not accept an announcement after every retry.

    What the registry says stands (serving follows the alias); the failure is recorded and
    alerted on, and ``rankct deploy notify`` sends it again.
    """

    exit_code = 3


@dataclass(frozen=True)
class Announcement:
    """A payload and what became of its delivery (no payload when no ``notify.url`` is set:
    there is no receiver to build it for)."""

    payload: DeploymentPayload | None
    result: NotifyResult
    record: Path | None


def bundle_dir(config: RankctConfig, model: str, version: str) -> Path:
    """Where the export stage publishes a version's bundle on this machine."""
    return config.home / "exports" / model / str(version)


def deployment_payload(config: RankctConfig, store: Store, version: str, decision: Decision, *,
                       context: dict[str, Any] | None = None) -> DeploymentPayload:
    """The signed-to-be payload of ``version``: every file of its bundle with its sha256, the
    bundle's URI among the MLflow run's artifacts, its test metrics.

    The bundle is read from this machine's exports folder, or downloaded from MLflow when this
    machine has none; its ONNX model must be the one whose digest the export logged.
    """
    version = str(version)
    found = store.client.get_model_version(store.model_name, version)
    tags = found.tags
    logged_sha = tags.get(TAG_ONNX_SHA256)
    if not logged_sha:
        raise RankctError(f"version {version} of {store.model_name} has no exported ONNX model "
                          "(tag onnx_sha256)", hint="only an exported champion is deployed")
    run = store.client.get_run(found.run_id)
    bundle_uri = f"{run.info.artifact_uri}/{EXPORT_FOLDER}/{version}"
    local = bundle_dir(config, store.model_name, version)
    if local.is_dir():
        files = tree_digests(local)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            fetched = store.client.download_artifacts(found.run_id,
                                                      f"{EXPORT_FOLDER}/{version}", tmp)
            files = tree_digests(fetched)
    if files.get(ONNX_FILE) != logged_sha:
        raise RankctError(f"the bundle of version {version} holds an ONNX model whose sha256 "
                          f"{str(files.get(ONNX_FILE))[:12]}... is not the exported "
                          f"{logged_sha[:12]}...", hint="re-run the export task of its day")
    artifacts = {"bundle": bundle_uri}
    if tags.get(TAG_ONNX_MODEL_URI):
        artifacts["onnx_model"] = tags[TAG_ONNX_MODEL_URI]
    metrics = {key: value for key, value in run.data.metrics.items() if "ndcg" in key}
    return DeploymentPayload.issue(
        store.model_name, version, decision, onnx_sha256=logged_sha, files=files,
        artifacts=artifacts, metrics=metrics,
        context={"data_interval": tags.get(TAG_DATA_INTERVAL),
                 "decision_sha256": tags.get(TAG_DECISION_SHA256), **(context or {})})


def announce(config: RankctConfig, store: Store, version: str, decision: Decision, *,
             context: dict[str, Any] | None = None,
             record_dir: Path | None = None) -> Announcement:
    """Send the signed payload of ``version``, which must be the champion; never raises for a
    failed delivery (the result says so). Recorded under ``<home>/deployments/``; without a
    ``notify.url`` nothing is built or sent (status ``skipped``)."""
    version = str(version)
    champion = champion_version(store)
    if champion != version:
        raise RankctError(f"version {version} of {store.model_name} is not the champion "
                          f"({champion or 'none'}): it is not announced for deployment",
                          hint="serving follows the champion alias: promote or roll back "
                               "first, then announce the champion")
    if not config.notify.url:
        return Announcement(None, NotifyResult("skipped", None, 0,
                                               error="no notify.url configured"), None)
    payload = deployment_payload(config, store, version, decision, context=context)
    result = notify(payload, config.notify, record_dir=record_dir)
    record = write_json_atomic(
        config.home / "deployments" / f"{payload.issued_at.replace(':', '')}-v{version}-"
                                      f"{payload.delivery_id[:8]}.json",
        {"payload": payload.as_dict(), "result": result.as_dict()})
    return Announcement(payload, result, record)
