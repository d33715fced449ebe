"""Parity of an ONNX export with its booster on a golden set of whole requests.

An export is shipped only when ONNX reproduces the native raw margins within ``atol`` on every
row, orders every request the same way, and reads its input columns in the expected order. Every
way the ONNX side can be broken (bytes that do not load, a changed tree, a wrong feature list)
turns into a failed report with a reason, never an exception.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import xgboost as xgb

from rankct.errors import RankctError
from rankct.export.onnx_model import (
    INPUT_NAME,
    OUTPUT_NAME,
    ModelSource,
    feature_names_of,
    onnx_session,
)


class GoldenSet(NamedTuple):
    """Feature rows of whole requests (float32, NaN for missing) and the request id of each row."""

    X: np.ndarray
    request_ids: np.ndarray


@dataclass(frozen=True)
class ParityReport:
    """The verdict of :func:`check_parity`; ``reasons`` is empty exactly when ``passed``."""

    passed: bool
    max_abs_diff: float
    n_rows: int
    n_requests: int
    order_mismatches: int
    feature_order_ok: bool
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        """A plain-dict copy, for run reports and model-registry tags."""
        return asdict(self)


def golden_set(data: pd.DataFrame | np.ndarray, request_ids: np.ndarray | pd.Series, *,
               feature_names: list[str] | None = None, n_requests: int = 64,
               n_missing_rows: int = 8, seed: int = 0) -> GoldenSet:
    """Sample ``n_requests`` whole requests from held-out rows, with missing values guaranteed.

    ``data`` is a matrix whose columns are in model order, or a frame whose ``feature_names``
    columns are taken in that order. When the sample holds no NaN, ``n_missing_rows`` copies of its
    rows with random features set to NaN (the first copy with all of them) join their requests, so
    the default direction of every split is exercised.
    """
    if isinstance(data, pd.DataFrame):
        data = data[feature_names] if feature_names is not None else data
        X = data.to_numpy(dtype=np.float32, na_value=np.nan)
    else:
        X = np.asarray(data, dtype=np.float32)
    ids = np.asarray(request_ids)
    if X.ndim != 2 or len(X) == 0 or len(ids) != len(X):
        raise RankctError(f"golden set needs a non-empty 2-d matrix and one request id per row, "
                          f"got shape {X.shape} and {len(ids)} ids")
    rng = np.random.default_rng(seed)
    unique = pd.unique(ids)
    chosen = rng.choice(unique, size=min(n_requests, len(unique)), replace=False)
    keep = np.isin(ids, chosen)
    X, ids = X[keep], ids[keep]
    if n_missing_rows > 0 and not np.isnan(X).any():
        rows = rng.choice(len(X), size=min(n_missing_rows, len(X)), replace=False)
        copies = X[rows].copy()
        missing = rng.random(copies.shape) < 0.5
        missing[np.arange(len(rows)), rng.integers(X.shape[1], size=len(rows))] = True  # >= 1 each
        missing[0] = True
        copies[missing] = np.nan
        X, ids = np.vstack([X, copies]), np.concatenate([ids, ids[rows]])
    order = np.argsort(ids, kind="stable")  # rows of a request together, for people reading it
    return GoldenSet(np.ascontiguousarray(X[order]), ids[order])


def check_parity(booster: xgb.Booster, onnx_path_or_bytes: ModelSource, X: np.ndarray,
                 request_ids: np.ndarray, feature_names: list[str],
                 atol: float = 1e-4) -> ParityReport:
    """Compare ONNX scores with ``booster.predict(output_margin=True)`` on the golden rows.

    Two items whose native scores differ by less than ``atol`` may swap places without counting
    as an order mismatch: such near-ties are within the tolerance of the scores themselves.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    ids = np.asarray(request_ids)
    names = list(feature_names)
    if X.ndim != 2 or X.shape[1] != len(names) or len(ids) != len(X):
        raise RankctError(f"parity needs {len(names)} feature columns and one request id per row, "
                          f"got shape {X.shape} and {len(ids)} ids")
    n_requests = len(pd.unique(ids))
    reasons: list[str] = []

    def failed(feature_order_ok: bool) -> ParityReport:
        return ParityReport(False, float("inf"), len(X), n_requests, 0, feature_order_ok, reasons)

    booster_names = list(booster.feature_names or names)
    if booster_names != names:
        reasons.append(_order_reason("the booster", booster_names, names))
        return failed(False)
    try:
        onnx_names = feature_names_of(onnx_path_or_bytes)
    except RankctError as exc:
        reasons.append(f"ONNX model unusable: {exc}")
        return failed(False)
    feature_order_ok = onnx_names == names
    if not feature_order_ok:
        reasons.append(_order_reason("the ONNX metadata", onnx_names, names))
    if len(X) == 0:
        reasons.append("the golden set has no rows")
        return failed(feature_order_ok)
    try:
        onnx_scores = _onnx_scores(onnx_path_or_bytes, X)
    except RankctError as exc:
        reasons.append(f"ONNX model unusable: {exc}")
        return failed(feature_order_ok)

    dmatrix = xgb.DMatrix(X, feature_names=names, missing=np.nan)
    native = booster.predict(dmatrix, output_margin=True).astype(np.float64)
    diff = np.nan_to_num(np.abs(onnx_scores - native), nan=np.inf)
    worst = int(np.argmax(diff))
    max_abs_diff = float(diff[worst])
    if max_abs_diff > atol:
        reasons.append(f"max |onnx - native| = {max_abs_diff:.3g} exceeds atol {atol:g} "
                       f"(row {worst}: native {native[worst]:.6g}, onnx {onnx_scores[worst]:.6g})")
    mismatched = _order_mismatches(ids, native, onnx_scores, atol)
    if mismatched:
        reasons.append(f"{len(mismatched)} of {n_requests} requests ordered differently, "
                       f"e.g. request {mismatched[0]}")
    return ParityReport(not reasons, max_abs_diff, len(X), n_requests, len(mismatched),
                        feature_order_ok, reasons)


def _onnx_scores(onnx_model: ModelSource, X: np.ndarray) -> np.ndarray:
    """One float64 score per row; RankctError for any model that cannot score ``X``."""
    session = onnx_session(onnx_model)
    try:
        out = session.run([OUTPUT_NAME], {INPUT_NAME: X})[0]
    except Exception as exc:  # a tampered graph fails inside onnxruntime with its own error types
        raise RankctError(f"scoring failed: {exc}") from exc
    scores = np.asarray(out, dtype=np.float64).reshape(-1)
    if len(scores) != len(X):
        raise RankctError(f"{len(scores)} scores for {len(X)} rows")
    return scores


def _order_mismatches(ids: np.ndarray, native: np.ndarray, onnx_scores: np.ndarray,
                      atol: float) -> list[Any]:
    """Requests where ONNX puts an item strictly below one it is natively above by >= atol."""
    mismatched = []
    groups = pd.DataFrame({"request": ids}).groupby("request", sort=False).indices
    for request, rows in groups.items():
        a, b = native[rows], onnx_scores[rows]
        clearly_above = (a[:, None] - a[None, :]) >= atol
        if np.any(clearly_above & (b[:, None] < b[None, :])):
            mismatched.append(request)
    return mismatched


def _order_reason(source: str, got: list[str], expected: list[str]) -> str:
    """Where a feature list first departs from the expected one."""
    if len(got) != len(expected):
        return f"{source} lists {len(got)} features, expected {len(expected)}"
    i = next(i for i, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e)
    return f"{source} feature order differs at column {i}: {got[i]!r} instead of {expected[i]!r}"
