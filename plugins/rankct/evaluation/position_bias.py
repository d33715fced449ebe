"""Position-debiased offline evaluation from logged interactions.

Logged labels exist only for what users examined, and they examine less further down the list,
so NDCG on logs favours a model that agrees with the logging ranker. Inverse propensity weighting
gives every logged label the weight 1 / P(examined | logged position), clipped so a few labels
at rarely examined positions cannot dominate the estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rankct.errors import RankctError
from rankct.evaluation.metrics import graded_labels, ndcg_per_request, rank_requests

DEFAULT_CLIP = 0.1


def estimate_propensities(frame: pd.DataFrame, position: str = "position", label: str = "grade",
                          min_impressions: int = 1000) -> pd.Series:
    """Examination propensity per logged position (1-based), relative to position 1, by the
    click rate by position (:mod:`rankct.evaluation.propensity` harvests a better one).

    The simple "CTR by position" estimator: the share of rows with label > 0 at position p
    divided by that share at position 1. It reads as P(examined | p) / P(examined | 1) only if
    what was shown does not get more or less relevant with the position. That holds for
    randomised logging (shuffled top-k); a production ranker puts relevant items first, so on its
    logs the curve falls too steeply and the weights over-correct. Positions with fewer than
    ``min_impressions`` rows take the value of the closest reliable position above them, then a
    running minimum makes the curve non-increasing, as examination never rises down the list.
    """
    positions = frame[position].to_numpy()
    if len(positions) == 0 or positions.min() < 1:
        raise RankctError(f"column {position!r} must hold 1-based positions of logged rows")
    clicked = pd.Series(graded_labels(frame, label) > 0).groupby(positions)
    stats = pd.DataFrame({"rate": clicked.mean(), "n": clicked.size()})
    stats = stats.reindex(pd.RangeIndex(1, int(positions.max()) + 1, name=position))
    top = stats.loc[1]
    if not top["n"] >= min_impressions or not top["rate"] > 0:
        raise RankctError(f"position 1 has {int(np.nan_to_num(top['n']))} rows with "
                          f"click rate {top['rate']}: too little to normalise propensities",
                          hint="estimate on more days of logs or lower min_impressions")
    reliable = stats["rate"].where(stats["n"] >= min_impressions).ffill()
    return (reliable / top["rate"]).cummin().rename("propensity")


def ipw_ndcg(frame: pd.DataFrame, propensity: pd.Series, k: int = 10, clip: float = DEFAULT_CLIP,
             score: str = "score", label: str = "grade", request: str = "request_id",
             position: str = "position") -> float:
    """Mean over requests of the inverse-propensity-weighted NDCG@k of the model's ranking.

    Each item's gain is (2^label - 1) / max(propensity[logged position], clip); DCG@k of the
    model's order is divided by the DCG@k of the same weighted gains sorted best first. Positions
    beyond the propensity curve take its last value. Requests without a relevant item are left
    out; NaN when none is left. This removes the edge logs give the logging ranker; as a ratio per
    request it is only approximately unbiased, and it cannot restore labels nobody logged.
    """
    gains = _weighted_gains(frame, propensity, clip, label, position)
    ndcg = ndcg_per_request(gains, rank_requests(frame, score, request), (k,))[k]
    scored = ndcg[~np.isnan(ndcg)]
    return float(scored.mean()) if len(scored) else float("nan")


def _weighted_gains(frame: pd.DataFrame, propensity: pd.Series, clip: float, label: str,
                    position: str) -> np.ndarray:
    """(2^label - 1) / max(propensity[logged position], clip) of every row, frame order."""
    if not 0 < clip <= 1:
        raise RankctError(f"clip must be in (0, 1], got {clip}")
    curve = propensity.sort_index()
    positions = frame[position].to_numpy()
    # The value at the largest estimated position <= the logged one covers gaps and the tail.
    at = np.searchsorted(curve.index.to_numpy(), positions, side="right") - 1
    if (at < 0).any():
        raise RankctError(f"logged positions below {curve.index[0]} have no propensity")
    weights = 1.0 / np.maximum(curve.to_numpy(dtype=np.float64)[at], clip)
    return (np.exp2(graded_labels(frame, label)) - 1.0) * weights


def ipw_dcg_per_request(frame: pd.DataFrame, propensity: pd.Series, k: int = 10,
                        clip: float = DEFAULT_CLIP, score: str = "score", label: str = "grade",
                        request: str = "request_id", position: str = "position") -> pd.Series:
    """Inverse-propensity-weighted DCG@k of the ranking by ``score``, for every request (sorted
    ids; a request without a logged label scores 0 and stays in).

    Unlike :func:`ipw_ndcg` this is unbiased when the propensities are right (and unclipped):
    each logged gain over its examination probability has the expectation of the gain the
    user would have given, so the mean over requests estimates the true mean DCG@k, requests
    where nobody clicked included. Normalising each request by the DCG of its own weighted
    labels, as :func:`ipw_ndcg` does, divides by a number that grows exactly where a model
    lifts an item from low down the logged list, which hands the logging ranker back its edge.
    Two rankings scored on the same frame share every weight, so their values pair up.
    """
    gains = _weighted_gains(frame, propensity, clip, label, position)
    ranking = rank_requests(frame, score, request)
    discount = np.where(ranking.rank <= k, 1.0 / np.log2(ranking.rank + 1.0), 0.0)
    return pd.Series(ranking.total(gains[ranking.order] * discount), index=ranking.requests,
                     name=f"ipw_dcg@{k}")
