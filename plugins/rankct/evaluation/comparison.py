"""Challenger against champion on the same requests: a paired significance test on per-request
metrics and how much the two rankings differ (churn)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd

from rankct.errors import RankctError
from rankct.evaluation.metrics import rank_requests

# Draws per chunk of resamples: keeps memory at tens of MB whatever the number of requests.
_DRAWS_PER_CHUNK = 4_000_000


@dataclass(frozen=True)
class PairedTest:
    """Mean per-request difference (challenger - champion) with its uncertainty."""

    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    n_requests: int
    method: str
    alpha: float

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def paired_test(challenger: pd.Series, champion: pd.Series,
                method: Literal["randomization", "bootstrap"] = "randomization",
                n_resamples: int = 10_000, seed: int = 0, alpha: float = 0.05) -> PairedTest:
    """Compare two per-request metrics (e.g. NDCG@10) indexed by request id.

    Only requests present and non-NaN in both count, in any order. The interval is the
    (1 - alpha) percentile bootstrap interval of the mean difference, for either method. The
    two-sided p-value comes from random sign flips of the differences ("randomization") or from
    the bootstrap distribution centred on the observed effect ("bootstrap"); both are
    (count + 1) / (n_resamples + 1), so never 0. The same seed gives the same result.
    """
    if method not in ("randomization", "bootstrap"):
        raise RankctError(f"unknown paired test method {method!r}",
                          hint="use 'randomization' or 'bootstrap'")
    if n_resamples < 1 or not 0 < alpha < 1:
        raise RankctError(f"need n_resamples >= 1 and 0 < alpha < 1, got {n_resamples}, {alpha}")
    pairs = pd.concat({"challenger": challenger, "champion": champion}, axis=1, join="inner")
    # Sorted by request so the resamples, hence the result, do not depend on the input order.
    pairs = pairs.dropna().sort_index()
    if pairs.empty:
        raise RankctError("challenger and champion have no request in common",
                          hint="evaluate both models on the same evaluation requests")
    differences = (pairs["challenger"] - pairs["champion"]).to_numpy(dtype=np.float64)
    effect = float(differences.mean())
    bootstrap_rng, flip_rng = np.random.default_rng(seed).spawn(2)
    bootstrap = _bootstrap_means(differences, n_resamples, bootstrap_rng)
    ci_low, ci_high = np.quantile(bootstrap, [alpha / 2, 1 - alpha / 2])
    null = (bootstrap - effect if method == "bootstrap"
            else _sign_flip_means(differences, n_resamples, flip_rng))
    # Sums in another order differ in the last bits: without a tolerance identical systems
    # (all differences 0) could miss their own observed value.
    tolerance = 1e-12 * max(1.0, float(np.abs(differences).max()))
    extreme = int(np.count_nonzero(np.abs(null) >= abs(effect) - tolerance))
    return PairedTest(effect=effect, ci_low=float(ci_low), ci_high=float(ci_high),
                      p_value=(extreme + 1) / (n_resamples + 1), n_requests=len(differences),
                      method=method, alpha=alpha)


def _chunks(n_resamples: int, n_values: int) -> list[int]:
    size = max(1, _DRAWS_PER_CHUNK // n_values)
    return [min(size, n_resamples - start) for start in range(0, n_resamples, size)]


def _bootstrap_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    return np.concatenate([
        values[rng.integers(0, len(values), size=(chunk, len(values)), dtype=np.int32)].mean(axis=1)
        for chunk in _chunks(n_resamples, len(values))])


def _sign_flip_means(values: np.ndarray, n_resamples: int,
                     rng: np.random.Generator) -> np.ndarray:
    means = []
    for chunk in _chunks(n_resamples, len(values)):
        # One random bit per value: the flipped sum is sum(kept) - sum(flipped) = 2 kept - total.
        random_bytes = rng.integers(0, 256, size=(chunk, -(-len(values) // 8)), dtype=np.uint8)
        kept = np.unpackbits(random_bytes, axis=1, count=len(values)).astype(np.float64)
        means.append((2.0 * (kept @ values) - values.sum()) / len(values))
    return np.concatenate(means)


@dataclass(frozen=True)
class Churn:
    """How differently two models rank the same requests."""

    mean_top_k_overlap: float  # |top_k(a) & top_k(b)| / min(k, n_items), averaged over requests
    top1_changed_share: float  # share of requests whose first item differs
    n_requests: int
    k: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def ranking_churn(frame: pd.DataFrame, score_a: str = "challenger", score_b: str = "champion",
                  item: str = "item_id", request: str = "request_id", k: int = 10) -> Churn:
    """Top-k overlap and top-1 changes between the rankings by ``score_a`` and by ``score_b``.

    Each row is one item of a request (an item twice in a request is refused); ties are broken
    by frame order as in every rankct metric.
    """
    if frame.duplicated([request, item]).any():
        raise RankctError(f"an item appears twice in a request: ({request}, {item}) must be unique")
    rankings = [rank_requests(frame, score, request) for score in (score_a, score_b)]
    rank_a, rank_b = (ranking.frame_ranks() for ranking in rankings)
    # Both rankings number the requests alike: count per request on the frame-order codes.
    codes, sizes = rankings[0].codes, rankings[0].sizes
    shared = np.bincount(codes, weights=((rank_a <= k) & (rank_b <= k)).astype(np.float64))
    same_top1 = np.bincount(codes, weights=((rank_a == 1) & (rank_b == 1)).astype(np.float64))
    return Churn(mean_top_k_overlap=float((shared / np.minimum(k, sizes)).mean()),
                 top1_changed_share=float((same_top1 == 0).mean()),
                 n_requests=len(sizes), k=k)
