"""Examination propensities per display position, harvested from the logs themselves.

The production ranker puts what it believes relevant first, so the click rate by position
("CTR by position") mixes examination with relevance and falls far too steeply. Intervention
harvesting (Agarwal et al., WSDM 2019) looks instead at the same (user, item) pair shown at
different positions in different requests: the user and the item are the same, so the pair's
relevance is too, and the ratio of its click rates at positions a and b estimates
P(examined | b) / P(examined | a). Such repeats come from what moves an item between lists of
the same user (other candidates, freshness, the ranker's own noise), not from its relevance.

Two steps, so days can be pooled by adding their statistics:

- :func:`position_pair_stats`: for every pair of positions a < b at which one key was shown,
  the balanced sums ``xa``/``xb`` of the key's click rates at a and at b (each key weighted by
  n_a n_b / (n_a + n_b), so a key shown often at one position does not dominate) and the clicks
  ``ca``/``cb`` behind them;
- :func:`harvest_propensities`: xa ~ theta_a r and xb ~ theta_b r for one unknown rate r per
  pair (the relevance of the keys behind it), fitted by Poisson maximum likelihood with
  theta_1 = 1, then made non-increasing by a weighted isotonic fit, as examination never rises
  down a list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rankct.errors import RankctError
from rankct.evaluation.metrics import graded_labels

PAIR_COLUMNS = ["position_a", "position_b", "xa", "xb", "ca", "cb"]
# Clicks in harvested pairs below which the curve is not trusted (the fallback is used).
MIN_PAIR_CLICKS = 200
_ITERATIONS = 500


def position_pair_stats(frame: pd.DataFrame, keys: tuple[str, ...] = ("user_id", "item_id"),
                        position: str = "position", label: str = "grade") -> pd.DataFrame:
    """Sufficient statistics of intervention harvesting, one row per position pair (a < b).

    A row of ``frame`` is one logged impression; it counts as clicked when ``label`` > 0 (every
    logged event follows a click). Rows without a position are ignored. Sums over days add up.
    """
    rows = frame.loc[frame[position].notna(), [*keys, position]].copy()
    rows["clicked"] = graded_labels(frame.loc[rows.index], label) > 0
    cells = (rows.groupby([*keys, position], sort=False, observed=True)["clicked"]
             .agg(["size", "sum"]).reset_index())
    cells["key"] = cells.groupby(list(keys), sort=False, observed=True).ngroup()
    cells = cells[cells.groupby("key")["key"].transform("size") > 1]
    if cells.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS).astype(float)
    cells = cells[["key", position, "size", "sum"]].rename(
        columns={position: "p", "size": "n", "sum": "c"})
    pairs = cells.merge(cells, on="key", suffixes=("a", "b"))
    pairs = pairs[pairs["pa"] < pairs["pb"]]
    weight = pairs["na"] * pairs["nb"] / (pairs["na"] + pairs["nb"])
    pairs = pairs.assign(xa=weight * pairs["ca"] / pairs["na"],
                         xb=weight * pairs["cb"] / pairs["nb"])
    stats = (pairs.groupby(["pa", "pb"])[["xa", "xb", "ca", "cb"]].sum().reset_index()
             .rename(columns={"pa": "position_a", "pb": "position_b"}))
    stats[["position_a", "position_b"]] = stats[["position_a", "position_b"]].astype("int64")
    return stats[PAIR_COLUMNS]


def pool_pair_stats(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The statistics of several days (or frames) as one table: sums per position pair."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=PAIR_COLUMNS).astype(float)
    return (pd.concat(parts).groupby(["position_a", "position_b"])[["xa", "xb", "ca", "cb"]]
            .sum().reset_index()[PAIR_COLUMNS])


def _non_increasing(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted isotonic (non-increasing) fit by pooling adjacent violators."""
    blocks: list[list[float]] = []  # [weighted mean, weight, length]
    for value, weight in zip(values, weights):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            total = w1 + w2
            blocks.append([(v1 * w1 + v2 * w2) / total if total else (v1 + v2) / 2, total,
                           n1 + n2])
    return np.concatenate([np.full(int(n), v) for v, _, n in blocks])


def harvest_propensities(pairs: pd.DataFrame, max_position: int | None = None,
                         min_clicks: int = MIN_PAIR_CLICKS) -> pd.Series:
    """P(examined | position) / P(examined | 1) for positions 1..``max_position`` from
    :func:`position_pair_stats` (pooled or not); non-increasing, 1 at position 1.

    Positions no pair reached take the value of the closest position above them. Raises when
    fewer than ``min_clicks`` clicks fall in usable pairs: too little to trust a curve.
    """
    usable = pairs[(pairs["xa"] + pairs["xb"]) > 0]
    clicks = float(usable["ca"].sum() + usable["cb"].sum())
    if clicks < min_clicks or 1 not in set(usable["position_a"]):
        raise RankctError(f"only {clicks:.0f} clicks in (user, item) pairs shown at two "
                          f"positions, or none at position 1: too little to harvest "
                          f"propensities (need {min_clicks})",
                          hint="estimate on more days of logs")
    known = np.unique(usable[["position_a", "position_b"]].to_numpy())
    top = int(max_position or known.max())
    index = {int(p): j for j, p in enumerate(known)}
    at_a = usable["position_a"].map(index).to_numpy()
    at_b = usable["position_b"].map(index).to_numpy()
    xa, xb = usable["xa"].to_numpy(), usable["xb"].to_numpy()
    clicked = np.bincount(at_a, xa, len(known)) + np.bincount(at_b, xb, len(known))
    theta = np.ones(len(known))
    # Poisson likelihood with one nuisance rate per pair (its keys' relevance): alternating
    # maximisation. Zero-click pairs count, unlike a fit of log ratios, which must drop them
    # and so overrates rarely clicked (low) positions.
    for _ in range(_ITERATIONS):
        rate = (xa + xb) / (theta[at_a] + theta[at_b])
        exposed = np.bincount(at_a, rate, len(known)) + np.bincount(at_b, rate, len(known))
        updated = np.divide(clicked, exposed, out=np.zeros_like(theta), where=exposed > 0)
        updated /= updated[0]
        converged = np.abs(updated - theta).max() < 1e-9
        theta = updated
        if converged:
            break
    log_theta = pd.Series(np.log(np.maximum(theta, 1e-6)), index=known)
    support = pd.Series(np.bincount(at_a, usable["ca"].to_numpy(), len(known))
                        + np.bincount(at_b, usable["cb"].to_numpy(), len(known)), index=known)
    # Position 1 is the anchor: its weight keeps the fit from moving it away from 0.
    support.iloc[0] = max(float(support.sum()), 1.0)
    fitted = _non_increasing(log_theta.to_numpy(), support.to_numpy())
    curve = pd.Series(np.exp(np.minimum(fitted - fitted[0], 0.0)), index=log_theta.index)
    curve = curve.reindex(pd.RangeIndex(1, max(top, int(curve.index.max())) + 1)).ffill()
    return curve.iloc[:top].rename("propensity").rename_axis("position")


def examination_curve(frame: pd.DataFrame, keys: tuple[str, ...] = ("user_id", "item_id"),
                      position: str = "position", label: str = "grade",
                      min_clicks: int = MIN_PAIR_CLICKS) -> tuple[pd.Series, str]:
    """Harvested propensities of ``frame``'s logs, and how they were estimated.

    Logs too thin to harvest (few repeated pairs, or no user and item ids to find them by) fall
    back on the click rate by position, which over-corrects on a production ranker's logs; the
    method is returned so reports can say so.
    """
    from rankct.evaluation.position_bias import estimate_propensities

    top = int(frame[position].max())
    try:
        if not set(keys) <= set(frame.columns):
            raise RankctError(f"no {' and '.join(keys)} to find repeated pairs by")
        return (harvest_propensities(position_pair_stats(frame, keys, position, label), top,
                                     min_clicks), "intervention harvesting")
    except RankctError:
        curve = estimate_propensities(frame, position, label,
                                      min_impressions=min(1000, len(frame) // 50 or 1))
        return curve, "click rate by position (too few repeated pairs to harvest)"
