"""Fit the XGBoost ranker on a train split with early stopping on the validation split.

Objectives: ``click_model`` (the default on logs: relevance learnt through the position-based
click model with propensities harvested from the logs, :mod:`rankct.training.click_model`),
``rank:ndcg`` (LambdaMART), ``rank:pairwise`` (RankNet loss) and ``lambdarank_unbiased``: ``rank:ndcg`` with XGBoost's Unbiased LambdaMART, which estimates the
click propensity of every display position jointly with the ranker. XGBoost reads a row's index
inside its query group as that position, so rows are handed over in logged position order (what
:func:`rankct.training.split.split_by_time` produces); pairs come from the top
``num_pair_per_sample`` positions ("topk", the only pair method the debiasing supports, and one
without random sampling).

Requests without a relevant item carry no pairwise gradient and have no NDCG in rankct's
definition: the ranking objectives leave them out of the train and validation matrices, which
makes XGBoost's ``ndcg@10`` on the validation set the same number as
:func:`rankct.evaluation.metrics.evaluate` (both use the exponential gain 2^grade - 1). The
click model keeps every row and early-stops on the validation likelihood of the logged clicks.

The booster is cut to its best iteration, so the saved model, :meth:`TrainedRanker.predict` and
any export score with the same trees.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from rankct.config import TrainingConfig
from rankct.errors import RankctError
from rankct.io import write_text_atomic

EVAL_METRIC = "ndcg@10"
CLICK_MODEL = "click_model"


def xgb_params(config: TrainingConfig, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """XGBoost parameters of ``config`` (plus search ``overrides`` of its field names)."""
    if overrides:
        config = config.model_copy(update=overrides)
    unbiased = config.objective == "lambdarank_unbiased"
    # The click model's gradient is rankct's own; the booster is an identity-link regressor.
    named = {"lambdarank_unbiased": "rank:ndcg", CLICK_MODEL: "reg:squarederror"}
    params: dict[str, Any] = {
        "objective": named.get(config.objective, config.objective),
        "eval_metric": EVAL_METRIC,
        "tree_method": "hist",
        "eta": config.eta,
        "max_depth": config.max_depth,
        "min_child_weight": config.min_child_weight,
        "subsample": config.subsample,
        "colsample_bytree": config.colsample_bytree,
        "lambda": config.reg_lambda,
        "alpha": config.reg_alpha,
        "max_bin": config.max_bin,
        "lambdarank_pair_method": "topk",
        "lambdarank_num_pair_per_sample": config.num_pair_per_sample,
        "seed": config.seed,
        "verbosity": 0,
    }
    if unbiased:
        params.update(lambdarank_unbiased=True, lambdarank_bias_norm=config.bias_norm)
    if config.nthread:
        params["nthread"] = config.nthread
    return params


def feature_matrix(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """``frame[features]`` as float32 in that column order, NaN where a value is missing."""
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise RankctError(
            f"{len(missing)} model feature column(s) missing from the frame: {missing[:10]}",
            hint="build the training set with the FeatureService the model was trained on, "
                 "or train a new model on the columns you have")
    try:
        return frame[features].to_numpy(dtype=np.float32, na_value=np.nan)
    except (TypeError, ValueError):
        bad = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
        raise RankctError(f"feature column(s) {bad} are not numeric",
                          hint="pass numeric codes (e.g. category codes), not strings") from None


def grouped(frame: pd.DataFrame, request: str = "request_id") -> pd.DataFrame:
    """Rows grouped by request in order of first appearance, order inside a request kept."""
    codes, _ = pd.factorize(frame[request], sort=False)
    if (codes < 0).any():
        raise RankctError(f"column {request!r} has missing request ids")
    if (np.diff(codes) >= 0).all():
        return frame
    return frame.iloc[np.argsort(codes, kind="stable")]


def ranking_lists(frame: pd.DataFrame, label: str = "grade",
                  request: str = "request_id") -> pd.DataFrame:
    """The rows of requests with a relevant item (grade > 0), grouped by request, order kept:
    the lists a pairwise objective learns from and NDCG is defined on."""
    frame = grouped(frame, request)
    return frame[frame.groupby(request, sort=False)[label].transform("max").to_numpy() > 0]


def _dmatrix(frame: pd.DataFrame, features: list[str], label: str, request: str,
             name: str) -> xgb.DMatrix:
    if label not in frame.columns:
        raise RankctError(f"the {name} frame has no label column {label!r}")
    frame = ranking_lists(frame, label, request)
    if frame.empty:
        raise RankctError(f"no request of the {name} split has a relevant item (grade > 0)",
                          hint="train on more days or check the label grades")
    codes, _ = pd.factorize(frame[request], sort=False)
    return xgb.DMatrix(feature_matrix(frame, features), label=frame[label].to_numpy(np.float32),
                       qid=codes, feature_names=features, missing=np.nan)


@dataclass
class TrainedRanker:
    """A fitted ranker: its booster (cut at the best iteration) and how it was trained."""

    booster: xgb.Booster
    feature_names: list[str]
    params: dict[str, Any]
    best_iteration: int
    # validation NDCG@10 (click model: mean log-likelihood of the clicks) after each round
    curve: list[float]
    train_seconds: float
    objective: str
    # unbiased objective: ti+ / tj-; click model: the harvested propensities it used
    position_bias: pd.DataFrame | None = field(default=None)

    @property
    def best_score(self) -> float:
        """Validation NDCG@10 (click model: click log-likelihood) of the kept model."""
        return self.curve[self.best_iteration]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw ranking margins of ``frame``'s rows (frame order), from every tree kept."""
        return self.booster.inplace_predict(feature_matrix(frame, self.feature_names),
                                            predict_type="margin", missing=np.nan)

    def model_bytes(self) -> bytes:
        """The booster as XGBoost JSON (deterministic for the same data, seed and nthread)."""
        return bytes(self.booster.save_raw("json"))

    def save(self, path: Path | str) -> Path:
        """Write the booster as XGBoost JSON, atomically."""
        return write_text_atomic(path, self.model_bytes().decode("utf-8"))


def _position_bias(booster: xgb.Booster) -> pd.DataFrame:
    """The click propensities per position the unbiased objective estimated (ti+, tj-)."""
    objective = json.loads(booster.save_config())["learner"]["objective"]
    return pd.DataFrame({"position": np.arange(1, len(objective["ti+"]) + 1),
                         "ti+": np.asarray(objective["ti+"], dtype=float),
                         "tj-": np.asarray(objective["tj-"], dtype=float)})


def train_ranker(train: pd.DataFrame, valid: pd.DataFrame, features: list[str],
                 config: TrainingConfig | None = None, *, overrides: dict[str, Any] | None = None,
                 label: str = "grade", request: str = "request_id") -> TrainedRanker:
    """Fit a ranker on ``train``, early-stopped on NDCG@10 of ``valid``.

    Rows of a request must be in display-position order for the unbiased objective. ``overrides``
    replaces :class:`TrainingConfig` fields for this fit (the hyper-parameter search uses it).
    """
    config = (config or TrainingConfig()).model_copy(update=overrides or {})
    if not features:
        raise RankctError("no feature columns given", hint="pass the model's input columns")
    params = xgb_params(config)
    started = time.perf_counter()
    if config.objective == CLICK_MODEL:
        from rankct.training import click_model

        booster, curve, bias = click_model.fit(
            train, valid, lambda frame: feature_matrix(frame, features), features, params,
            config.num_boost_round, config.early_stopping_rounds, label)
    else:
        dtrain = _dmatrix(train, features, label, request, "train")
        dvalid = _dmatrix(valid, features, label, request, "validation")
        history: dict[str, dict[str, list[float]]] = {}
        booster = xgb.train(params, dtrain, num_boost_round=config.num_boost_round,
                            evals=[(dvalid, "valid")], evals_result=history,
                            early_stopping_rounds=config.early_stopping_rounds,
                            verbose_eval=False)
        curve = [float(v) for v in history["valid"][EVAL_METRIC]]
        bias = _position_bias(booster) if params.get("lambdarank_unbiased") else None
    seconds = time.perf_counter() - started
    best = int(np.argmax(curve))  # the first of equal maxima, as XGBoost's early stopping keeps
    booster = booster[: best + 1]
    booster.set_attr(best_iteration=str(best), best_score=repr(curve[best]))
    return TrainedRanker(booster=booster, feature_names=list(features), params=params,
                         best_iteration=best, curve=curve, train_seconds=seconds,
                         objective=config.objective, position_bias=bias)
