"""How good the serving ranker was, day by day: the champion after each day's decision, scored
on that day's held-out requests beside two references.

On simulated data the labels are the simulator's hidden grades (what a user would have given
had they looked at the item): the references are the true-utility ordering (the ceiling) and the
logging policy's ordering (what the marketplace served). On a user's own data there is no hidden
truth; the logged grades are used and the oracle is left out.

Beside them, the position-debiased DCG@10 the model gate estimates from the logs alone (for the
logging policy and the champion), and, where the truth is known, their DCG@10 on it: how far
the gate's estimate is from what it estimates.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from rankct.config import RankctConfig
from rankct.contract import truth_path
from rankct.pipeline.day import DayRun
from rankct.pipeline.outcome import Outcome

K = 10


def _test_requests(config: RankctConfig, day: date) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The day's held-out split, with hidden grades joined when the simulator left them, and
    the whole training window (the logs the propensities are harvested from)."""
    from rankct.training.split import split_by_time

    run = DayRun(config, day)
    if not run.training_set.exists():
        return None
    frame = pd.read_parquet(run.training_set)
    test = split_by_time(frame, config.training.split).test
    truth = truth_path(config.data_root, day)
    if truth.exists():
        hidden = pd.read_parquet(truth, columns=["request_id", "item_id", "utility",
                                                 "grade_if_examined"])
        test = test.merge(hidden, on=["request_id", "item_id"], how="inner")
    return test, frame


def _dcg(test: pd.DataFrame, scores: dict[str, Any], propensity: pd.Series,
         hidden: bool) -> dict[str, float]:
    """Debiased DCG@10 of each ranking from the logged grades and, with the truth, its DCG@10
    on the hidden grades (every position examined: a flat propensity)."""
    from rankct.evaluation.position_bias import ipw_dcg_per_request

    flat = pd.Series(1.0, index=pd.RangeIndex(1, 2))
    out = {}
    for name, score in scores.items():
        frame = test.assign(score=score)
        out[f"{name}_debiased_dcg"] = float(ipw_dcg_per_request(frame, propensity, K).mean())
        if hidden:
            out[f"{name}_truth_dcg"] = float(ipw_dcg_per_request(
                frame, flat, K, label="grade_if_examined").mean())
    return out


def ndcg_by_day(config: RankctConfig, outcomes: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per day: its outcome, the champion serving after it and NDCG@10 of the
    champion, the oracle (hidden truth only) and the logging policy on the day's test requests;
    and the debiased DCG@10 of champion and logging policy beside their DCG@10 on the truth
    (``champion_debiased_dcg``, ``champion_truth_dcg``, ``logging_policy_...``).
    """
    from rankct.evaluation.metrics import evaluate
    from rankct.evaluation.propensity import examination_curve
    from rankct.pipeline.evaluate import model_scores
    from rankct.registry import load_booster, open_store

    store, boosters, champion = open_store(config), {}, None
    rows = []
    for outcome in outcomes:
        day = date.fromisoformat(outcome["day"])
        if outcome["state"] == Outcome.PROMOTED:
            champion = outcome["version"]
        row: dict[str, Any] = {"day": day, "outcome": outcome["state"],
                               "version": outcome.get("version"), "champion_version": champion,
                               "champion": np.nan, "oracle": np.nan, "logging_policy": np.nan,
                               "labels": None,
                               **{f"{who}_{kind}_dcg": np.nan for who in ("champion",
                                                                           "logging_policy")
                                  for kind in ("debiased", "truth")}}
        # The references are scored on every trained day: before the first champion, the
        # logging policy is what serves.
        found = _test_requests(config, day)
        test, logs = found if found is not None else (None, None)
        if test is not None and len(test):
            hidden = "grade_if_examined" in test.columns
            label = "grade_if_examined" if hidden else "grade"
            scores = {"logging_policy": -test["position"].to_numpy(dtype=float)}
            if champion:
                if champion not in boosters:
                    boosters[champion] = load_booster(store, champion)
                scores["champion"] = model_scores(boosters[champion], test, "champion")
            if hidden:
                scores["oracle"] = test["utility"].to_numpy()
            for name, score in scores.items():
                row[name] = evaluate(test.assign(score=score), label=label).ndcg[K]
            row["labels"] = "hidden truth" if hidden else "logged grades"
            curve, _ = examination_curve(logs)
            row.update(_dcg(test, {k: v for k, v in scores.items() if k != "oracle"}, curve,
                            hidden))
        rows.append(row)
    return pd.DataFrame(rows)
