"""One training run on prepared splits: optional search, the fit, and the held-out test metrics.

The CLI and the training pipeline both call :func:`train_and_test`; registering the model and
gating it against the champion are later stages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from rankct.config import TrainingConfig
from rankct.evaluation.metrics import RankingMetrics, evaluate
from rankct.training.search import SearchResult, random_search
from rankct.training.trainer import TrainedRanker, train_ranker


@dataclass
class TrainingOutcome:
    """The fitted ranker with its validation and test metrics and what the run cost."""

    ranker: TrainedRanker
    valid_metrics: RankingMetrics
    test_metrics: RankingMetrics
    seconds: float  # wall time of search and fit, without loading data or scoring the test set
    search: SearchResult | None = None

    def summary(self) -> str:
        """Human-readable lines: the fit, the test metrics, the time it took."""
        m, r = self.test_metrics, self.ranker
        fit = (f"trained {r.objective} on {len(r.feature_names)} features: best iteration "
               f"{r.best_iteration + 1} of {len(r.curve)}, "
               f"valid NDCG@10 {self.valid_metrics.ndcg[10]:.4f}")
        test = ("test: " + "  ".join(f"NDCG@{k} {v:.4f}" for k, v in sorted(m.ndcg.items()))
                + f"  MAP {m.map:.4f}  MRR {m.mrr:.4f}  requests {m.n_requests:,}"
                f"  excluded {m.n_excluded_no_relevant:,}")
        lines = [fit, test]
        search = (f" (search: {len(self.search.trials)} trials)" if self.search is not None
                  else "")
        lines.append(f"training time {self.seconds:.2f}s{search}")
        return "\n".join(lines)


def score_frame(ranker: TrainedRanker, frame: pd.DataFrame) -> pd.DataFrame:
    """The request id and label columns of ``frame`` with the ranker's ``score``."""
    return frame[["request_id", "grade"]].assign(score=ranker.predict(frame))


def train_and_test(train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame,
                   features: list[str], config: TrainingConfig | None = None,
                   search_trials: int | None = None,
                   objectives: tuple[str, ...] | None = None) -> TrainingOutcome:
    """Fit on ``train`` (after a random search when a budget is given, else with ``config``'s
    parameters), early-stopped on ``valid``; measure NDCG@1/5/10, MAP and MRR on ``test``.
    ``objectives`` narrows the objectives the search tries (default: all the data supports)."""
    config = config or TrainingConfig()
    trials = config.search_trials if search_trials is None else search_trials
    started = time.perf_counter()
    search = None
    if trials or config.search_seconds is not None:
        search = random_search(train, valid, features, config, n_trials=trials,
                               objectives=objectives)
        ranker = search.best_ranker
    else:
        ranker = train_ranker(train, valid, features, config)
    seconds = time.perf_counter() - started
    return TrainingOutcome(ranker=ranker, valid_metrics=evaluate(score_frame(ranker, valid)),
                           test_metrics=evaluate(score_frame(ranker, test)), seconds=seconds,
                           search=search)
