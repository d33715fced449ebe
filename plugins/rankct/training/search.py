"""A budgeted random search over the ranker's hyper-parameters, judged on validation NDCG@10.

Random search because with a handful of trials it does as well as anything fancier on boosted
trees and costs no extra dependency. Trial 0 is the configured parameters, so the search never
returns something worse on validation than not searching. Draws come from a seeded generator:
the same seed, data and budget in trials give the same table. A time budget stops starting new
trials once spent (the first trial always runs), so it bounds the search to budget + one fit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rankct.config import TrainingConfig
from rankct.errors import RankctError
from rankct.evaluation.metrics import evaluate
from rankct.training.trainer import TrainedRanker, train_ranker

# The TrainingConfig fields the search varies.
SEARCHED = ("eta", "max_depth", "min_child_weight", "subsample", "colsample_bytree", "reg_lambda")


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def sample_params(rng: np.random.Generator) -> dict[str, Any]:
    """One draw of :class:`TrainingConfig` overrides from the search space."""
    # Every draw consumes the same amount of randomness, so trial k is the same in every run.
    return {
        "eta": round(_log_uniform(rng, 0.02, 0.3), 4),
        "max_depth": int(rng.integers(3, 11)),
        "min_child_weight": round(_log_uniform(rng, 0.5, 50.0), 3),
        "subsample": round(float(rng.uniform(0.5, 1.0)), 3),
        "colsample_bytree": round(float(rng.uniform(0.5, 1.0)), 3),
        "reg_lambda": round(_log_uniform(rng, 0.1, 10.0), 3),
    }


@dataclass
class SearchResult:
    """The winning overrides, its fitted ranker and every trial (one row each)."""

    best_params: dict[str, Any]
    best_score: float
    best_ranker: TrainedRanker
    trials: pd.DataFrame


def random_search(train: pd.DataFrame, valid: pd.DataFrame, features: list[str],
                  config: TrainingConfig | None = None, *, n_trials: int | None = None,
                  seconds: float | None = None, label: str = "grade",
                  request: str = "request_id") -> SearchResult:
    """Fit up to ``n_trials`` rankers (default ``config.search_trials``) and/or for about
    ``seconds`` (default ``config.search_seconds``); keep the best validation NDCG@10."""
    config = config or TrainingConfig()
    n_trials = config.search_trials if n_trials is None else n_trials
    seconds = config.search_seconds if seconds is None else seconds
    if not n_trials and seconds is None:
        raise RankctError("the search has no budget",
                          hint="give a number of trials (--search N, training.search_trials) "
                               "or a time budget (training.search_seconds)")
    rng = np.random.default_rng(config.seed)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any], TrainedRanker] | None = None
    trial = 0
    while (not n_trials or trial < n_trials) and (
            trial == 0 or seconds is None or time.perf_counter() - started < seconds):
        overrides = {} if trial == 0 else sample_params(rng)
        ranker = train_ranker(train, valid, features, config, overrides=overrides,
                              label=label, request=request)
        scored = valid.assign(_score=ranker.predict(valid))
        score = evaluate(scored, score="_score", label=label, request=request).ndcg[10]
        settings = config.model_copy(update=overrides)
        rows.append({"trial": trial, **{k: getattr(settings, k) for k in SEARCHED},
                     "best_iteration": ranker.best_iteration, "valid_ndcg@10": score,
                     "seconds": ranker.train_seconds})
        if best is None or score > best[0]:
            best = (score, overrides, ranker)
        trial += 1
    assert best is not None  # the loop always runs trial 0
    return SearchResult(best_params=best[1], best_score=best[0], best_ranker=best[2],
                        trials=pd.DataFrame(rows))
