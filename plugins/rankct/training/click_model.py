"""The ``click_model`` objective: learn relevance through the position-based click model.

Logged labels exist only for what users examined. A ranker trained on them as they are learns
to rank like the production ranker that chose the positions: every feature that tracks where
that ranker puts an item (its popularity, its historical rank) looks like relevance. Here the
click probability of a logged row is factorised as P(click) = theta[position] * sigmoid(f(x)):
theta is the examination propensity of the display position, harvested from the training logs
(:mod:`rankct.evaluation.propensity`) and held fixed, and the trees learn only f, the log-odds
that the user finds the item relevant once examined. At scoring time there is no position: the
margin f(x) ranks the candidates.

Each row counts (requests without a click too: they say something about what was not
clicked where it was examined); a row is a click when its grade is > 0. Early stopping watches
the same likelihood on the validation rows, so model selection is not pulled towards the logged
order either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from rankct.errors import RankctError
from rankct.evaluation.propensity import examination_curve

METRIC = "click_nll"
_EPS = 1e-9


def _require_positions(frame: pd.DataFrame) -> None:
    if "position" not in frame.columns or frame["position"].isna().any():
        raise RankctError("the click_model objective needs the logged position of every row",
                          hint="train on logged impressions, or pick rank:ndcg for LETOR data")


def row_propensities(frame: pd.DataFrame, curve: pd.Series) -> np.ndarray:
    """theta of every row's logged position (positions past the curve take its last value)."""
    _require_positions(frame)
    at = np.searchsorted(curve.index.to_numpy(), frame["position"].to_numpy(), side="right") - 1
    return curve.to_numpy(dtype=np.float64)[np.maximum(at, 0)]


def _parts(margin: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    relevant = 1.0 / (1.0 + np.exp(-margin))
    return relevant, np.clip(theta * relevant, _EPS, 1.0 - _EPS)


def objective(theta: np.ndarray, clicked: np.ndarray) -> Callable[..., tuple[Any, Any]]:
    """Gradient and Hessian of -log P(logged click | margin) for XGBoost's ``obj``."""
    def gradient(margin: np.ndarray, _: xgb.DMatrix) -> tuple[np.ndarray, np.ndarray]:
        s, q = _parts(margin, theta)
        dq = theta * s * (1.0 - s)  # d q / d margin
        # Clicked: -log(theta s), whose derivatives do not depend on theta.
        grad = np.where(clicked, -(1.0 - s), q * (1.0 - s) / (1.0 - q))
        hess_skipped = ((dq * (1.0 - s) - q * s * (1.0 - s)) / (1.0 - q)
                        + q * (1.0 - s) * dq / (1.0 - q) ** 2)
        hess = np.where(clicked, s * (1.0 - s), hess_skipped)
        return grad, np.maximum(hess, 1e-6)
    return gradient


def metric(theta: np.ndarray, clicked: np.ndarray) -> Callable[..., tuple[str, float]]:
    """Mean negative log-likelihood of the logged clicks, XGBoost's ``custom_metric``."""
    def score(margin: np.ndarray, _: xgb.DMatrix) -> tuple[str, float]:
        _, q = _parts(margin, theta)
        return METRIC, float(-np.mean(np.where(clicked, np.log(q), np.log1p(-q))))
    return score


def fit(train: pd.DataFrame, valid: pd.DataFrame, matrix: Callable[[pd.DataFrame], np.ndarray],
        features: list[str], params: dict[str, Any], rounds: int, patience: int,
        label: str = "grade") -> tuple[xgb.Booster, list[float], pd.DataFrame]:
    """Fit the click model; returns the booster (not cut), the validation log-likelihood after
    each round (higher is better) and the propensities it used."""
    for frame in (train, valid):
        _require_positions(frame)
    curve, method = examination_curve(pd.concat([train, valid], ignore_index=True), label=label)
    sides = {}
    for name, frame in (("train", train), ("valid", valid)):
        sides[name] = (xgb.DMatrix(matrix(frame), feature_names=features, missing=np.nan),
                       row_propensities(frame, curve), frame[label].to_numpy() > 0)
    dtrain, theta, clicked = sides["train"]
    dvalid, valid_theta, valid_clicked = sides["valid"]
    history: dict[str, dict[str, list[float]]] = {}
    settings = {k: v for k, v in params.items() if k not in ("objective", "eval_metric")}
    # The margin is the log-odds of relevance: 0 is even odds, and the export adds nothing.
    settings.update(base_score=0.0, disable_default_eval_metric=1)
    booster = xgb.train(settings, dtrain, num_boost_round=rounds, evals=[(dvalid, "valid")],
                        obj=objective(theta, clicked),
                        custom_metric=metric(valid_theta, valid_clicked), maximize=False,
                        evals_result=history, early_stopping_rounds=patience,
                        verbose_eval=False)
    likelihood = [-float(v) for v in history["valid"][METRIC]]
    propensity = pd.DataFrame({"position": curve.index.to_numpy(),
                               "propensity": curve.to_numpy(), "method": method})
    return booster, likelihood, propensity
