"""Load an export bundle the way the servers do and check its scores against the native booster.

Triton: the highest version folder of the model repository, input and output names, dims and
``max_batch_size`` from ``config.pbtxt``. Vespa: the application zip as deployed, its ONNX file,
and the rank features the schema feeds each input column. Each golden request is sent on its own,
as a server receives it, and must score within ``atol`` of ``booster.predict(output_margin=True)``
and rank its items in the same order.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from rankct.digests import sha256_file
from rankct.errors import RankctError
from rankct.export.bundle import REQUEST_COLUMN, ExportBundle
from rankct.export.onnx_model import (
    INPUT_NAME,
    OUTPUT_NAME,
    feature_names_of,
    onnx_session,
)
from rankct.export.parity import _order_mismatches
from rankct.export.triton import NUMPY_TYPES, read_triton_config
from rankct.export.vespa import ONNX_MODEL, package_inputs

Scorer = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class ServerCheck:
    """One server's verdict; ``reasons`` is empty exactly when ``passed``."""

    server: str
    model_file: str
    passed: bool
    max_abs_diff: float
    n_rows: int
    n_requests: int
    order_mismatches: int
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ServeCheckReport:
    """The verdict of :func:`serve_check` over every server."""

    bundle: str
    checks: list[ServerCheck]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"bundle": self.bundle, "passed": self.passed,
                "checks": [asdict(c) for c in self.checks]}

    def summary(self) -> str:
        lines = [f"serve-check {'PASSED' if self.passed else 'FAILED'}: {self.bundle}"]
        for c in self.checks:
            lines.append(f"  {c.server:<7} {'ok  ' if c.passed else 'FAIL'} {c.n_requests} "
                         f"requests, {c.n_rows} rows, max |diff| {c.max_abs_diff:.3g}, "
                         f"{c.order_mismatches} reordered  ({c.model_file})")
            lines += [f"          - {reason}" for reason in c.reasons]
        return "\n".join(lines)


def serve_check(bundle_dir: Path | str, booster: xgb.Booster | Path | str,
                atol: float = 1e-4) -> ServeCheckReport:
    """Score the bundle's golden requests through its Triton and Vespa artifacts and compare."""
    bundle = ExportBundle.load(bundle_dir)
    if not isinstance(booster, xgb.Booster):
        booster = load_booster(booster)
    golden = pd.read_parquet(bundle.golden_path)
    names = list(booster.feature_names or bundle.feature_names)
    missing = [n for n in names if n not in golden.columns]
    if missing:
        raise RankctError(f"the bundle's golden requests lack the booster's features {missing}",
                          hint="check the bundle against the booster it was exported from")
    X = np.ascontiguousarray(golden[names].to_numpy(np.float32, na_value=np.nan))
    native = booster.predict(xgb.DMatrix(X, feature_names=names, missing=np.nan),
                             output_margin=True).astype(np.float64)
    checks = []
    for server, load in (("triton", _triton), ("vespa", _vespa)):
        try:
            model_file, scorer, reasons = load(bundle)
        except RankctError as exc:
            checks.append(ServerCheck(server, "?", False, float("inf"), len(golden), 0, 0,
                                      [f"cannot load: {exc}"]))
            continue
        checks.append(_compare(server, model_file, scorer, golden, native, atol,
                               [*reasons, *_digest_reasons(bundle, model_file)]))
    return ServeCheckReport(str(bundle.root), checks)


def load_booster(path: Path | str) -> xgb.Booster:
    """A booster from a saved model file (JSON or UBJSON); RankctError when it does not load."""
    path = Path(path)
    if not path.is_file():
        raise RankctError(f"no booster file at {path}", hint="pass the saved XGBoost model")
    try:
        return xgb.Booster(model_file=str(path))
    except xgb.core.XGBoostError as exc:
        raise RankctError(f"{path} is not a readable XGBoost model: {exc}") from exc


def _session_scorer(model_file: Path, input_name: str, output_name: str, columns: list[str],
                    dtype: type, max_batch: int | None = None) -> Scorer:
    """Score a request frame with a fresh ORT session, splitting at the server's batch limit."""
    session = onnx_session(model_file)

    def score(request: pd.DataFrame) -> np.ndarray:
        X = request[columns].to_numpy(dtype, na_value=np.nan)
        step = max_batch or len(X)
        try:
            parts = [session.run([output_name], {input_name: X[i:i + step]})[0]
                     for i in range(0, len(X), step)]
        except Exception as exc:  # onnxruntime has its own error types for graphs and inputs
            raise RankctError(f"the server's onnxruntime session failed: {exc}") from exc
        return np.concatenate(parts).astype(np.float64).reshape(-1)
    return score


def _triton(bundle: ExportBundle) -> tuple[str, Scorer, list[str]]:
    """The Triton model's latest version file and a scorer fed as its config.pbtxt says."""
    model_dir = bundle.triton_dir / bundle.model_name
    config = read_triton_config(model_dir)
    versions = sorted((int(p.name) for p in model_dir.iterdir() if p.name.isdigit()), reverse=True)
    if not versions:
        raise RankctError(f"{model_dir} has no numbered version folder")
    model_file = model_dir / str(versions[0]) / "model.onnx"
    (tensor_in,), (tensor_out,) = config["inputs"], config["outputs"]
    columns = feature_names_of(model_file)
    reasons = []
    if tensor_in["dims"] != [len(columns)]:
        reasons.append(f"config.pbtxt input dims {tensor_in['dims']} do not fit the model's "
                       f"{len(columns)} features")
    scorer = _session_scorer(model_file, tensor_in["name"], tensor_out["name"], columns,
                             NUMPY_TYPES[tensor_in["data_type"]], config["max_batch_size"])
    return str(model_file.relative_to(bundle.root)), scorer, reasons


def _vespa(bundle: ExportBundle) -> tuple[str, Scorer, list[str]]:
    """The ONNX file inside the deployable zip, fed from the rank features the schema names."""
    with tempfile.TemporaryDirectory(prefix="rankct-serve-check-") as scratch:
        try:
            with zipfile.ZipFile(bundle.vespa_zip) as zf:
                zf.extractall(scratch)
        except (OSError, zipfile.BadZipFile) as exc:
            raise RankctError(f"{bundle.vespa_zip} is not a readable zip: {exc}") from exc
        inputs = package_inputs(scratch)
        # The value each column receives is the rank feature in its cell: attribute(x), query(x).
        columns = [cell.split("(", 1)[1].rstrip(")") for cell in inputs["cells"]]
        # The session reads the file now: the extracted package may go when this block ends.
        scorer = _session_scorer(Path(scratch) / "models" / f"{ONNX_MODEL}.onnx", INPUT_NAME,
                                 OUTPUT_NAME, columns, np.float32)
    reasons = [f"the schema does not feed model column {f!r} from a declared attribute or "
               "query input" for f in inputs["unmapped"]]
    return f"vespa-app.zip:models/{ONNX_MODEL}.onnx", scorer, reasons


def _digest_reasons(bundle: ExportBundle, model_file: str) -> list[str]:
    """A served file whose bytes differ from the exported model's digest."""
    if ":" in model_file:
        archive, inner = model_file.split(":", 1)
        with zipfile.ZipFile(bundle.root / archive) as zf:
            digest = hashlib.sha256(zf.read(inner)).hexdigest()
    else:
        digest = sha256_file(bundle.root / model_file)
    if digest != bundle.onnx_sha256:
        return [(f"{model_file} sha256 {digest[:12]}... is not the exported model's "
                 f"{bundle.onnx_sha256[:12]}...")]
    return []


def _compare(server: str, model_file: str, scorer: Scorer, golden: pd.DataFrame,
             native: np.ndarray, atol: float, reasons: list[str]) -> ServerCheck:
    """Send each request alone, then compare scores and per-request order with the booster."""
    groups = golden.groupby(REQUEST_COLUMN, sort=False).indices
    served = np.full(len(golden), np.nan)
    try:
        for rows in groups.values():
            served[rows] = scorer(golden.iloc[rows])
    except RankctError as exc:
        return ServerCheck(server, model_file, False, float("inf"), len(golden), len(groups), 0,
                           [*reasons, f"scoring failed: {exc}"])
    diff = np.nan_to_num(np.abs(served - native), nan=np.inf)
    worst = int(np.argmax(diff))
    if diff[worst] > atol:
        reasons.append(f"max |served - native| = {diff[worst]:.3g} exceeds {atol:g} (row {worst}: "
                       f"native {native[worst]:.6g}, served {served[worst]:.6g})")
    mismatched = _order_mismatches(golden[REQUEST_COLUMN].to_numpy(), native, served, atol)
    if mismatched:
        reasons.append(f"{len(mismatched)} of {len(groups)} requests ranked in another order, "
                       f"e.g. request {mismatched[0]}")
    return ServerCheck(server, model_file, not reasons, float(diff[worst]), len(golden),
                       len(groups), len(mismatched), reasons)
