"""A budgeted random search over the ranker's objective and hyper-parameters, judged on the
validation split.

The objectives searched are those the data supports: ``rank:ndcg``, ``rank:pairwise`` and
``lambdarank_unbiased`` everywhere, ``click_model`` too on logged impressions (it needs the
display positions). What judges a trial is the validation metric the labels allow: NDCG@10 on
editorial labels (LETOR files), the position-debiased DCG@10 of
:mod:`rankct.evaluation.baseline` on logged ones, because NDCG on logged clicks rewards
whatever ranks like the logging policy and would pick the objective that mimics it best.

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
from rankct.objectives import OBJECTIVES
from rankct.training.trainer import CLICK_MODEL, TrainedRanker, train_ranker

# The TrainingConfig fields the search varies.
SEARCHED = ("objective", "eta", "max_depth", "min_child_weight", "subsample",
            "colsample_bytree", "reg_lambda")
LOGGED_COLUMNS = ("position", "user_id", "item_id")


def is_logged(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` holds logged impressions (positions, users, items), not editorial labels."""
    return set(LOGGED_COLUMNS) <= set(frame.columns) and frame["position"].notna().all()


def searched_objectives(frame: pd.DataFrame) -> tuple[str, ...]:
    """The objectives a search on ``frame`` may try."""
    return OBJECTIVES if is_logged(frame) else tuple(o for o in OBJECTIVES if o != CLICK_MODEL)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def sample_params(rng: np.random.Generator,
                  objectives: tuple[str, ...] = OBJECTIVES) -> dict[str, Any]:
    """One draw of :class:`TrainingConfig` overrides from the search space."""
    # Every draw consumes the same amount of randomness, so trial k is the same in every run.
    return {
        "objective": str(objectives[int(rng.integers(0, len(objectives)))]),
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
                  request: str = "request_id",
                  objectives: tuple[str, ...] | None = None) -> SearchResult:
    """Fit up to ``n_trials`` rankers (default ``config.search_trials``) and/or for about
    ``seconds`` (default ``config.search_seconds``); keep the best on validation (NDCG@10, or
    on logged impressions the debiased DCG@10). ``objectives`` narrows the objectives searched
    (default: all that the data supports; one, to search the parameters alone)."""
    config = config or TrainingConfig()
    n_trials = config.search_trials if n_trials is None else n_trials
    seconds = config.search_seconds if seconds is None else seconds
    if not n_trials and seconds is None:
        raise RankctError("the search has no budget",
                          hint="give a number of trials (--search N, training.search_trials) "
                               "or a time budget (training.search_seconds)")
    rng = np.random.default_rng(config.seed)
    objectives = objectives or searched_objectives(train)
    judge = _validation_judge(train, valid, label, request)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any], TrainedRanker] | None = None
    trial = 0
    while (not n_trials or trial < n_trials) and (
            trial == 0 or seconds is None or time.perf_counter() - started < seconds):
        overrides = {} if trial == 0 else sample_params(rng, objectives)
        ranker = train_ranker(train, valid, features, config, overrides=overrides,
                              label=label, request=request)
        score = judge(ranker)
        settings = config.model_copy(update=overrides)
        rows.append({"trial": trial, **{k: getattr(settings, k) for k in SEARCHED},
                     "best_iteration": ranker.best_iteration, judge.name: score,
                     "seconds": ranker.train_seconds})
        if best is None or score > best[0]:
            best = (score, overrides, ranker)
        trial += 1
    assert best is not None  # the loop always runs trial 0
    return SearchResult(best_params=best[1], best_score=best[0], best_ranker=best[2],
                        trials=pd.DataFrame(rows))


class _Judge:
    """The validation score of a fitted ranker (higher is better), named for the trials table."""

    def __init__(self, name: str, score: Any) -> None:
        self.name, self._score = name, score

    def __call__(self, ranker: TrainedRanker) -> float:
        return float(self._score(ranker))


def _validation_judge(train: pd.DataFrame, valid: pd.DataFrame, label: str,
                      request: str) -> _Judge:
    if not is_logged(valid):
        return _Judge("valid_ndcg@10", lambda ranker: evaluate(
            valid.assign(_score=ranker.predict(valid)), score="_score", label=label,
            request=request).ndcg[10])
    from rankct.evaluation.position_bias import ipw_dcg_per_request
    from rankct.evaluation.propensity import examination_curve

    # One curve for every trial, from all the logs the search may read.
    curve, _ = examination_curve(pd.concat([train, valid], ignore_index=True), label=label)
    return _Judge("valid_debiased_dcg@10", lambda ranker: ipw_dcg_per_request(
        valid.assign(_score=ranker.predict(valid)), curve, score="_score", label=label,
        request=request).mean())
