"""One model version's serving artifacts, built together and published in one rename.

``<out_dir>/<version>/`` holds ``model.onnx`` and its ``model.onnx.sha256``, the golden requests
(``golden.parquet``) and the parity report against the booster (``parity.json``), the Vespa
application (``vespa-app/`` and ``vespa-app.zip``), the Triton repository (``triton/``) and a
``manifest.json`` with every file's digest. Nothing is published unless ONNX parity holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from rankct.digests import sha256_file, tree_digests
from rankct.errors import RankctError
from rankct.export.onnx_model import (
    INPUT_NAME,
    OUTPUT_NAME,
    load_onnx,
    save_onnx,
    to_onnx,
)
from rankct.export.parity import GoldenSet, ParityReport, check_parity, golden_set
from rankct.export.triton import triton_repository
from rankct.export.vespa import vespa_package
from rankct.io import atomic_dir, write_json_atomic, write_text_atomic

MODEL_FILE = "model.onnx"
REQUEST_COLUMN = "request_id"
Golden = GoldenSet | tuple[np.ndarray, np.ndarray] | pd.DataFrame


class ExportParityFailed(RankctError):
    """The ONNX export does not reproduce the booster; nothing was published."""

    exit_code = 3

    def __init__(self, report: ParityReport) -> None:
        super().__init__("ONNX parity failed: " + "; ".join(report.reasons),
                         hint="do not ship this export; check the booster's objective and features")
        self.report = report


@dataclass(frozen=True)
class ExportBundle:
    """Paths and digests of a published bundle (see the module docstring for the layout)."""

    root: Path
    version: int
    model_name: str
    feature_names: list[str]
    onnx_path: Path
    onnx_sha256: str
    parity: ParityReport
    parity_path: Path
    golden_path: Path
    vespa_zip: Path
    triton_dir: Path
    manifest_path: Path

    @classmethod
    def load(cls, root: Path | str) -> ExportBundle:
        """Re-open a published bundle from its manifest."""
        root = Path(root)
        try:
            manifest = json.loads((root / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise RankctError(f"{root} is not an export bundle (manifest.json: {exc})",
                              hint="point at <out_dir>/<version> written by export_bundle") from exc
        parity = json.loads((root / "parity.json").read_text())
        return cls(root, int(manifest["version"]), manifest["model_name"],
                   list(manifest["feature_names"]), root / MODEL_FILE, manifest["onnx_sha256"],
                   ParityReport(**parity), root / "parity.json", root / "golden.parquet",
                   root / "vespa-app.zip", root / "triton", root / "manifest.json")


def export_bundle(booster: xgb.Booster, feature_names: list[str], golden: Golden,
                  out_dir: Path | str, *, version: int, model_name: str = "marketplace_ranker",
                  item_fields: dict[str, str] | None = None, app_name: str = "marketplace",
                  atol: float = 1e-4) -> ExportBundle:
    """Export ``booster`` for serving as ``<out_dir>/<version>/``, replacing an earlier one.

    ``golden`` is a :class:`GoldenSet`, an ``(X, request_ids)`` pair with columns in
    ``feature_names`` order, or held-out rows with a ``request_id`` column, from which
    :func:`golden_set` samples whole requests. Raises :class:`ExportParityFailed` (exit 3) when
    ONNX does not reproduce the booster within ``atol``.
    """
    names = list(feature_names)
    gold = _golden(golden, names)
    model = to_onnx(booster, names)
    target = Path(out_dir) / str(version)
    with atomic_dir(target) as tmp:
        onnx_path = tmp / MODEL_FILE
        sha = save_onnx(model, onnx_path)
        report = check_parity(booster, onnx_path, gold.X, gold.request_ids, names, atol=atol)
        if not report.passed:
            raise ExportParityFailed(report)
        write_text_atomic(tmp / f"{MODEL_FILE}.sha256", f"{sha}  {MODEL_FILE}\n")
        write_json_atomic(tmp / "parity.json", report.as_dict())
        frame = pd.DataFrame(gold.X, columns=names)
        frame.insert(0, REQUEST_COLUMN, gold.request_ids)
        frame.to_parquet(tmp / "golden.parquet", index=False)
        vespa_package(onnx_path, booster, names, tmp, app_name=app_name, item_fields=item_fields)
        triton_repository(onnx_path, tmp / "triton", model_name=model_name, version=version)
        files = tree_digests(tmp)
        write_json_atomic(tmp / "manifest.json", {
            "version": version, "model_name": model_name, "feature_names": names,
            "onnx_sha256": sha, "input": INPUT_NAME, "output": OUTPUT_NAME,
            "xgboost_version": xgb.__version__, "parity_passed": report.passed, "files": files})
    return ExportBundle.load(target)


def _golden(golden: Golden, names: list[str]) -> GoldenSet:
    """The golden requests as a GoldenSet whose columns follow ``names``."""
    if isinstance(golden, pd.DataFrame):
        if REQUEST_COLUMN not in golden.columns:
            raise RankctError(f"the golden frame has no {REQUEST_COLUMN!r} column",
                              hint="pass held-out rows with their request ids")
        missing = [n for n in names if n not in golden.columns]
        if missing:
            raise RankctError(f"the golden frame lacks model features {missing}")
        return golden_set(golden, golden[REQUEST_COLUMN], feature_names=names)
    X, ids = golden
    return GoldenSet(np.ascontiguousarray(X, dtype=np.float32), np.asarray(ids))


def log_bundle(bundle: ExportBundle, *, artifact_path: str = "export") -> dict[str, Any]:
    """Log ``bundle`` to the active MLflow run: the ONNX flavour, every file, an ``onnx_sha256`` tag.

    Returns ``model_uri`` (the logged ONNX model), ``artifact_uri`` (the bundle's folder among the
    run's artifacts), ``run_id`` and ``onnx_sha256``: what the deployment notification carries.
    """
    import mlflow
    import onnx
    import onnxruntime as ort
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    run = mlflow.active_run()
    if run is None:
        raise RankctError("log_bundle needs an active MLflow run",
                          hint="call it inside `with mlflow.start_run():`")
    actual = sha256_file(bundle.onnx_path)
    if actual != bundle.onnx_sha256:
        raise RankctError(f"{bundle.onnx_path} changed since export (sha256 {actual[:12]}..., "
                          f"manifest {bundle.onnx_sha256[:12]}...)", hint="re-export the bundle")
    n = len(bundle.feature_names)
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, n), INPUT_NAME)]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 1), OUTPUT_NAME)]))
    # Explicit requirements: inferring them would load the model in a subprocess for seconds.
    info = mlflow.onnx.log_model(
        load_onnx(bundle.onnx_path), name="onnx", signature=signature,
        pip_requirements=[f"onnx=={onnx.__version__}", f"onnxruntime=={ort.__version__}"],
        onnx_execution_providers=["CPUExecutionProvider"], save_as_external_data=False,
        metadata={"onnx_sha256": bundle.onnx_sha256, "feature_names": bundle.feature_names},
        tags={"onnx_sha256": bundle.onnx_sha256})
    folder = f"{artifact_path}/{bundle.version}"
    mlflow.log_artifacts(str(bundle.root), artifact_path=folder)
    mlflow.set_tags({"onnx_sha256": bundle.onnx_sha256,
                     "onnx_parity_max_abs_diff": f"{bundle.parity.max_abs_diff:.3g}"})
    return {"model_uri": info.model_uri, "artifact_uri": f"{run.info.artifact_uri}/{folder}",
            "run_id": run.info.run_id, "onnx_sha256": bundle.onnx_sha256}
