"""The logged ranking as a baseline, on simulated days where the truth is known.

The simulator logs what users examined (P(examined | position p) = p^-0.8, a number no rankct
code reads) and keeps, outside the raw data, the grade each user would have given every item.
Propensities are harvested from the logs alone; the debiased DCG of the logging policy and of
models is then held against their DCG on the hidden grades, and the model gate against what
the truth says it should decide.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from rankct.config import GateConfig
from rankct.evaluation.baseline import logged_baseline
from rankct.evaluation.metrics import evaluate, per_request_metrics, rank_requests
from rankct.evaluation.position_bias import estimate_propensities
from rankct.evaluation.propensity import (
    examination_curve,
    harvest_propensities,
    pool_pair_stats,
    position_pair_stats,
)
from rankct.gates.apply import missing_checks
from rankct.gates.model_gate import model_gate
from rankct.simulate import simulate

from tests.unit.test_gate import PASSED_DATA, PASSED_PARITY

GRADES = {"click": 1, "favourite": 2, "add_to_cart": 2, "purchase": 3}
# Stated bounds: the debiased DCG@10 is within 10% of the hidden-truth DCG@10, and a model's
# relative change against the logged ranking within 6 points of the truth's.
LEVEL_BOUND, CHANGE_BOUND = 0.10, 0.06


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> pd.DataFrame:
    """Four small simulated days: impressions with their best logged grade and hidden truth."""
    root = tmp_path_factory.mktemp("baseline_sim")
    simulate(root, days=4, scale="small", seed=3)

    def table(name: str) -> pd.DataFrame:
        return pd.concat([pd.read_parquet(p) for p in sorted(root.glob(f"{name}/dt=*"))])

    events = table("raw/events").assign(grade=lambda e: e["event_type"].map(GRADES))
    best = events.groupby(["request_id", "item_id"], as_index=False)["grade"].max()
    truth = table("truth/utility")[["request_id", "item_id", "utility", "grade_if_examined"]]
    frame = (table("raw/impressions").merge(best, on=["request_id", "item_id"], how="left")
             .fillna({"grade": 0}).merge(truth, on=["request_id", "item_id"]))
    frame["grade"] = frame["grade"].astype(int)
    return frame.assign(day=frame["served_at"].dt.date).sort_values(["request_id", "position"])


def _true_dcg(frame: pd.DataFrame, score: str) -> float:
    ranking = rank_requests(frame, score)
    gains = np.exp2(frame["grade_if_examined"].to_numpy(np.float64)) - 1.0
    discount = np.where(ranking.rank <= 10, 1.0 / np.log2(ranking.rank + 1.0), 0.0)
    return float(ranking.total(gains[ranking.order] * discount).mean())


def test_harvested_propensities_follow_the_examination_the_logs_hide(logs) -> None:
    curve, method = examination_curve(logs)
    assert method == "intervention harvesting"
    positions = np.arange(1, 11)
    truth = positions ** -0.8
    harvested = curve.loc[positions].to_numpy()
    assert curve.iloc[0] == 1.0 and (np.diff(curve.to_numpy()) <= 0).all()
    assert np.abs(harvested - truth).max() < 0.08, harvested.round(3)
    # Click rate by position mixes in the logging policy's ordering and falls far too fast.
    naive = estimate_propensities(logs).loc[positions].to_numpy()
    assert np.abs(naive - truth).mean() > 2 * np.abs(harvested - truth).mean()
    # Days pool by adding their statistics.
    days = [position_pair_stats(part) for _, part in logs.groupby("day")]
    pooled = harvest_propensities(pool_pair_stats(days), 10)
    assert np.abs(pooled.to_numpy() - truth).max() < 0.1


def test_debiased_dcg_stays_within_the_stated_bound_of_the_truth(logs) -> None:
    curve, method = examination_curve(logs)
    last = logs[logs["day"] == logs["day"].max()].copy()
    rng = np.random.default_rng(0)
    last["model"] = last["utility"] + rng.normal(0, 1.0, len(last))
    last["weak"] = last["utility"] + rng.normal(0, 2.5, len(last))
    last["logged_order"] = -last["position"].astype(float)
    logged_truth = _true_dcg(last, "logged_order")
    for score in ("model", "weak"):
        baseline = logged_baseline(last, curve, method, score)
        means = baseline.means
        assert abs(means["logged"] / logged_truth - 1) < LEVEL_BOUND
        assert abs(means["model"] / _true_dcg(last, score) - 1) < LEVEL_BOUND
        estimated = baseline.relative().mean()
        true_change = _true_dcg(last, score) / logged_truth - 1
        assert abs((estimated["model"] - estimated["logged"]) - true_change) < CHANGE_BOUND
        # The logged grades alone rank the logging policy first whatever the truth says.
        assert (evaluate(last, "logged_order").ndcg[10] > evaluate(last, score).ndcg[10])
    assert _true_dcg(last, "model") > logged_truth > _true_dcg(last, "weak")


def _first_model_verdict(logs: pd.DataFrame, shuffle: bool):
    """Train a first model on the first three days (features: a noisy view of the utility, and
    noise), judge it on the fourth day against the logged ranking."""
    rng = np.random.default_rng(1)
    frame = logs.assign(signal=logs["utility"] + rng.normal(0, 0.8, len(logs)),
                        noise=rng.normal(size=len(logs)))
    train, test = frame[frame["day"] < frame["day"].max()], frame[frame["day"] == frame["day"].max()]
    labels = train["grade"].to_numpy()
    if shuffle:
        labels = rng.permutation(labels)
    booster = xgb.train({"objective": "rank:ndcg", "eta": 0.3, "max_depth": 3, "nthread": 2},
                        xgb.DMatrix(train[["signal", "noise"]], label=labels,
                                    qid=pd.factorize(train["request_id"])[0]), 20)
    test = test.assign(challenger=booster.predict(xgb.DMatrix(test[["signal", "noise"]])))
    curve, method = examination_curve(frame)
    # A floor low enough that it lets the shuffled model through: the baseline must catch it.
    gate = GateConfig(min_ndcg=0.2)
    verdict = model_gate(per_request_metrics(test, "challenger"), None, gate,
                         data_gate=PASSED_DATA, parity=PASSED_PARITY,
                         baseline=logged_baseline(test, curve, method, "challenger"))
    return verdict, _true_dcg(test, "challenger") / _true_dcg(
        test.assign(o=-test["position"].astype(float)), "o") - 1


def test_a_first_model_worse_than_the_logged_ranking_is_rejected_for_it(logs) -> None:
    verdict, true_change = _first_model_verdict(logs, shuffle=True)
    assert true_change < 0  # the truth agrees: worse than what serves
    assert verdict.check("ndcg_floor").passed
    assert [reason.split(":")[0] for reason in verdict.reasons] == ["logging_baseline"]
    assert missing_checks(verdict, None) == ["logging_baseline"]


def test_a_first_model_better_than_the_logged_ranking_is_promoted(logs) -> None:
    verdict, true_change = _first_model_verdict(logs, shuffle=False)
    assert true_change > 0
    assert verdict.passed, verdict.reasons
    check = verdict.check("logging_baseline")
    assert check.value > 0 and verdict.extra["logging_baseline"]["ci_low"] > 0
    assert missing_checks(verdict, None) == []
