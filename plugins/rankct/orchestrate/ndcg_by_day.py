"""How good the serving ranker was, day by day: the champion after each day's decision, scored
on that day's held-out requests beside two references.

On simulated data the labels are the simulator's hidden grades (what a user would have given
had they looked at the item): the references are the true-utility ordering (the ceiling) and the
logging policy's ordering (what the marketplace served). On a user's own data there is no hidden
truth; the logged grades are used and the oracle is left out.
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


def _test_requests(config: RankctConfig, day: date) -> pd.DataFrame | None:
    """The day's held-out split, with hidden grades joined when the simulator left them."""
    from rankct.training.split import split_by_time

    run = DayRun(config, day)
    if not run.training_set.exists():
        return None
    test = split_by_time(pd.read_parquet(run.training_set), config.training.split).test
    truth = truth_path(config.data_root, day)
    if truth.exists():
        hidden = pd.read_parquet(truth, columns=["request_id", "item_id", "utility",
                                                 "grade_if_examined"])
        test = test.merge(hidden, on=["request_id", "item_id"], how="inner")
    return test


def ndcg_by_day(config: RankctConfig, outcomes: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per day: its outcome, the champion serving after it and NDCG@10 of the
    champion, the oracle (hidden truth only) and the logging policy on the day's test requests.
    """
    from rankct.evaluation.metrics import evaluate
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
                               "labels": None}
        test = _test_requests(config, day) if champion else None
        if test is not None and len(test):
            hidden = "grade_if_examined" in test.columns
            label = "grade_if_examined" if hidden else "grade"
            if champion not in boosters:
                boosters[champion] = load_booster(store, champion)
            scores = {"champion": model_scores(boosters[champion], test, "champion"),
                      "logging_policy": -test["position"].to_numpy(dtype=float)}
            if hidden:
                scores["oracle"] = test["utility"].to_numpy()
            for name, score in scores.items():
                row[name] = evaluate(test.assign(score=score), label=label).ndcg[K]
            row["labels"] = "hidden truth" if hidden else "logged grades"
        rows.append(row)
    return pd.DataFrame(rows)
