"""The ranking metrics of rankct: one definition for training evaluation, the model gate and the
reports.

Input: one row per (request, item) with a request id, a graded relevance label (ints 0..3) and a
model score. Inside a request the items are ranked by score, highest first; equal scores keep the
order the rows have in the frame (a stable sort), so a metric never depends on sort internals.
NaN scores rank last.

- NDCG@k: gain 2^label - 1, discount 1/log2(rank + 1), normalised by the DCG@k of the labels
  sorted best first.
- MAP: average precision over the whole list, an item being relevant when its label is > 0.
- MRR: 1 / rank of the first relevant item.

A request without any relevant item has none of these defined: it is left out of the metric rows
(neither 0 nor 1) and counted as ``n_excluded_no_relevant``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rankct.errors import RankctError

DEFAULT_KS = (1, 5, 10)


@dataclass(frozen=True)
class Ranking:
    """The rows of a frame in ranked order: grouped by request (sorted ids), best score first."""

    codes: np.ndarray  # request number of each row, in the frame's order
    order: np.ndarray  # frame row positions in ranked order
    rank: np.ndarray  # 1-based rank inside its request of each ranked row
    starts: np.ndarray  # first ranked row of each request
    sizes: np.ndarray  # items per request
    requests: pd.Index  # request id of each request number

    def total(self, ranked_values: np.ndarray) -> np.ndarray:
        """Sum per request of values given in ranked order."""
        return np.add.reduceat(ranked_values, self.starts)

    def frame_ranks(self) -> np.ndarray:
        """The rank of every row, in the frame's order."""
        ranks = np.empty_like(self.rank)
        ranks[self.order] = self.rank
        return ranks

    def best_first(self, values: np.ndarray) -> np.ndarray:
        """Values given in frame order, sorted best first inside each request (ideal order)."""
        return values[np.lexsort((-values, self.codes))]


def rank_requests(frame: pd.DataFrame, score: str = "score",
                  request: str = "request_id") -> Ranking:
    """Rank the rows of every request by ``score`` descending, ties in frame order."""
    if frame.empty:
        raise RankctError("cannot rank an empty frame", hint="check the evaluation data was loaded")
    codes, requests = pd.factorize(frame[request], sort=True)
    if (codes < 0).any():
        raise RankctError(f"column {request!r} has missing request ids")
    scores = frame[score].to_numpy(dtype=np.float64)
    # One sort for all requests; the row position as last key makes tie order explicit.
    order = np.lexsort((np.arange(len(frame)), -scores, codes))
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sizes = np.diff(np.r_[starts, len(frame)])
    rank = np.arange(len(frame)) - np.repeat(starts, sizes) + 1
    return Ranking(codes=codes, order=order, rank=rank, starts=starts, sizes=sizes,
                   requests=pd.Index(requests, name=request))


def graded_labels(frame: pd.DataFrame, label: str = "grade") -> np.ndarray:
    """The label column as floats, refusing values the gain formula cannot take."""
    labels = frame[label].to_numpy(dtype=np.float64)
    if np.isnan(labels).any() or (labels < 0).any():
        raise RankctError(f"column {label!r} must hold non-negative relevance grades",
                          hint="missing labels mean 'not relevant': fill them with 0")
    return labels


def ndcg_per_request(gains: np.ndarray, ranking: Ranking,
                     ks: tuple[int, ...]) -> dict[int, np.ndarray]:
    """NDCG@k of every request for item ``gains`` (frame order); NaN where no gain is positive."""
    discount = 1.0 / np.log2(ranking.rank + 1.0)
    ranked, ideal = gains[ranking.order], ranking.best_first(gains)
    result = {}
    for k in ks:
        cut = np.where(ranking.rank <= k, discount, 0.0)
        dcg, ideal_dcg = ranking.total(ranked * cut), ranking.total(ideal * cut)
        result[k] = np.divide(dcg, ideal_dcg, out=np.full(len(dcg), np.nan), where=ideal_dcg > 0)
    return result


def per_request_metrics(frame: pd.DataFrame, score: str = "score", label: str = "grade",
                        request: str = "request_id", ks: tuple[int, ...] = DEFAULT_KS,
                        keep_unscored: bool = False) -> pd.DataFrame:
    """NDCG@k, MAP and MRR of every request, indexed by request id (sorted).

    Requests without a relevant item are dropped, or kept with NaN metrics when ``keep_unscored``
    (what :func:`summarize` needs to count them).
    """
    ranking = rank_requests(frame, score, request)
    labels = graded_labels(frame, label)
    relevant = (labels[ranking.order] > 0).astype(np.float64)
    n_relevant = ranking.total(relevant)
    hits = np.cumsum(relevant)
    hits_before_request = hits[ranking.starts] - relevant[ranking.starts]
    hits_so_far = hits - np.repeat(hits_before_request, ranking.sizes)
    scored = n_relevant > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        average_precision = ranking.total(relevant * hits_so_far / ranking.rank) / n_relevant
    reciprocal_rank = np.maximum.reduceat(relevant / ranking.rank, ranking.starts)
    columns = {f"ndcg@{k}": values
               for k, values in ndcg_per_request(np.exp2(labels) - 1.0, ranking, ks).items()}
    columns["map"] = np.where(scored, average_precision, np.nan)
    columns["mrr"] = np.where(scored, reciprocal_rank, np.nan)
    columns["n_items"] = ranking.sizes
    columns["n_relevant"] = n_relevant.astype(np.int64)
    result = pd.DataFrame(columns, index=ranking.requests)
    return result if keep_unscored else result[scored]


@dataclass(frozen=True)
class RankingMetrics:
    """Means over the scored requests; ``ndcg`` maps k to mean NDCG@k."""

    ndcg: dict[int, float]
    map: float
    mrr: float
    n_requests: int
    n_excluded_no_relevant: int

    def as_dict(self) -> dict[str, float | int]:
        """Plain keys ("ndcg@10", "map", ...) for JSON, MLflow and reports."""
        return {**{f"ndcg@{k}": value for k, value in sorted(self.ndcg.items())},
                "map": self.map, "mrr": self.mrr, "n_requests": self.n_requests,
                "n_excluded_no_relevant": self.n_excluded_no_relevant}


def summarize(per_request: pd.DataFrame) -> RankingMetrics:
    """Average :func:`per_request_metrics`; rows without a relevant item count as excluded."""
    scored = per_request[per_request["n_relevant"] > 0]
    ndcg_columns = [c for c in per_request.columns if c.startswith("ndcg@")]
    return RankingMetrics(
        ndcg={int(c.removeprefix("ndcg@")): float(scored[c].mean()) for c in ndcg_columns},
        map=float(scored["map"].mean()), mrr=float(scored["mrr"].mean()),
        n_requests=len(scored), n_excluded_no_relevant=len(per_request) - len(scored))


def evaluate(frame: pd.DataFrame, score: str = "score", label: str = "grade",
             request: str = "request_id", ks: tuple[int, ...] = DEFAULT_KS) -> RankingMetrics:
    """Mean metrics of ``frame`` with the count of requests left out for lack of a relevant item."""
    return summarize(per_request_metrics(frame, score, label, request, ks, keep_unscored=True))
