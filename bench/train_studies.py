"""The studies ``bench/train.py`` prints beside its main table: which features earn their place
(ablation), what the training-set cap costs (NDCG@10 against training requests) and how close
the position-debiased estimate of rankct's model gate comes to the hidden truth."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

# The features issue 16 added, by what they describe; each group is dropped in turn.
ABLATION = {
    "debiased item CTR (clicks / expected examinations)": ["debiased_ctr_7d", "debiased_ctr_30d"],
    "debiased brand CTR": ["brand_debiased_ctr_7d"],
    "logged rank (item, brand, user x category, user x brand)": [
        "logged_rank_7d", "logged_rank_30d", "brand_logged_rank_30d",
        "user_category_logged_rank_30d", "user_brand_logged_rank_30d"],
    "query-brand match": ["query_brand_match"],
    "size fit (user's usual size)": ["size_fit", "user_top_size_share"],
    "price vs category and user's usual price": ["log_price_to_category",
                                                 "user_click_log_price_ratio_30d"],
    # Older features the issue names, kept in the study so they earn their place too.
    "freshness (age_days)": ["age_days"],
    "seller quality (rating, sales)": ["seller_rating", "seller_sales_30d"],
}
TRAINING_SIZES = (10_000, 30_000, 60_000, 120_000)

Fit = Callable[[pd.DataFrame, list[str]], np.ndarray]  # (train, features) -> test scores


def truth_ndcg(test: pd.DataFrame, scores: np.ndarray) -> float:
    from rankct.evaluation.metrics import evaluate

    return evaluate(test.assign(score=scores), label="grade_if_examined").ndcg[10]


def ablation(fit: Fit, train: pd.DataFrame, test: pd.DataFrame, features: list[str],
             full_scores: np.ndarray) -> list[tuple[str, int, float]]:
    """(what was left out, features kept, test NDCG@10 on the truth): all features first (the
    test scores of the model fitted on them, ``full_scores``, which the bench already has), then
    each group dropped, then every group dropped at once (the features before issue 16)."""
    rows = [("nothing (all features)", len(features), truth_ndcg(test, full_scores))]
    new = {c for name, columns in ABLATION.items() if not name.startswith(("freshness", "seller"))
           for c in columns}
    for name, columns in [*ABLATION.items(), ("all the new groups", sorted(new))]:
        kept = [f for f in features if f not in columns]
        if len(kept) < len(features):
            rows.append((name, len(kept), truth_ndcg(test, fit(train, kept))))
    return rows


def size_curve(fit: Fit, train: pd.DataFrame, test: pd.DataFrame, features: list[str],
               full_scores: np.ndarray) -> list[tuple[int, float, float | None]]:
    """(training requests, test NDCG@10 on the truth, fit seconds): the newest requests of the
    train split, as the daily run's window keeps the newest days, for each of
    ``TRAINING_SIZES`` below the split's size, then the whole split (``full_scores``, the main
    table's fit, whose seconds the main table prints)."""
    requests = train.groupby("request_id", sort=False)["event_timestamp"].min().sort_values()
    rows: list[tuple[int, float, float | None]] = []
    for size in (s for s in TRAINING_SIZES if s < len(requests)):
        kept = train[train["request_id"].isin(requests.index[-size:])]
        started = time.perf_counter()
        score = truth_ndcg(test, fit(kept, features))
        rows.append((size, score, time.perf_counter() - started))
    rows.append((len(requests), truth_ndcg(test, full_scores), None))
    return rows


def estimator_table(logs: pd.DataFrame, test: pd.DataFrame,
                    scores: dict[str, np.ndarray]) -> list[tuple[str, float, float, float]]:
    """(ranking, debiased DCG@10 from the logs, DCG@10 on the hidden truth, NDCG@10 on the
    truth), propensities harvested from ``logs`` as the model gate does."""
    from rankct.evaluation.metrics import rank_requests
    from rankct.evaluation.position_bias import ipw_dcg_per_request
    from rankct.evaluation.propensity import examination_curve

    curve, _ = examination_curve(logs)
    gains = np.exp2(test["grade_if_examined"].to_numpy(np.float64)) - 1.0
    rows = []
    for name, score in scores.items():
        frame = test.assign(score=score)
        ranking = rank_requests(frame)
        discount = np.where(ranking.rank <= 10, 1.0 / np.log2(ranking.rank + 1.0), 0.0)
        true_dcg = float(ranking.total(gains[ranking.order] * discount).mean())
        rows.append((name, float(ipw_dcg_per_request(frame, curve).mean()), true_dcg,
                     truth_ndcg(test, score)))
    return rows


def print_studies(ablated: list, sizes: list, estimates: list, objective: str) -> None:
    """The three tables, as ``bench/train.py`` prints them."""
    print(f"\n  ablation ({objective}; test NDCG@10 on the truth, change against all features)")
    full = ablated[0][2]
    for name, kept, score in ablated:
        print(f"  {'without ' + name:<66} {kept:>3} features {score:.4f} {score - full:+.4f}")
    print(f"\n  training-set size ({objective}, the newest requests of the train split)")
    for size, score, seconds in sizes:
        fitted = f"fit {seconds:5.1f}s" if seconds is not None else "(the whole split)"
        print(f"  {size:>9,} requests  NDCG@10 truth {score:.4f}  {fitted}")
    print("\n  position-debiased estimate (the model gate's) against the hidden truth")
    print(f"  {'ranking':<34} {'debiased DCG@10':>16} {'truth DCG@10':>13} {'bias':>7} "
          f"{'truth NDCG@10':>14}")
    for name, estimate, truth, ndcg in estimates:
        print(f"  {name:<34} {estimate:>16.4f} {truth:>13.4f} {estimate / truth - 1:>+7.1%} "
              f"{ndcg:>14.4f}")
