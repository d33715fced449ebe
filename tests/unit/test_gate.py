"""Model gate and data gate 2 on tiny rankers trained on synthetic grouped data.

The helpers here (``synthetic_requests``, ``train_ranker``, ``scored``) are shared with the
registry and report tests.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from rankct.config import GateConfig
from rankct.errors import RankctError
from rankct.evaluation.baseline import LoggedBaseline, logged_baseline
from rankct.evaluation.comparison import ranking_churn
from rankct.evaluation.metrics import per_request_metrics
from rankct.evaluation.slices import slice_metrics
from rankct.export.parity import ParityReport
from rankct.gates.checks import Check, Verdict
from rankct.gates.data_gate2 import data_gate2, label_rate_check
from rankct.gates.model_gate import model_gate

FEATURES = ["price", "item_ctr_7d", "item_age_days", "seller_rating", "user_ctr_7d", "match"]
PASSED_PARITY = ParityReport(True, 2e-6, 200, 20, 0, True, [])
PASSED_DATA = Verdict([Check("label_rate", 0.2, "[0.01, 0.5]", True, "in band")])
# Synthetic grades carry no position bias: every position is examined.
FLAT = pd.Series(1.0, index=pd.RangeIndex(1, 13, name="position"), name="propensity")


def synthetic_requests(n_requests: int, per_request: int = 12, seed: int = 0,
                       shift: float = 0.0) -> pd.DataFrame:
    """Requests of items whose grade (0..3) follows a noisy utility of the features."""
    rng = np.random.default_rng(seed)
    n = n_requests * per_request
    frame = pd.DataFrame(rng.normal(loc=shift, size=(n, len(FEATURES))), columns=FEATURES)
    utility = (frame["match"] * 1.5 + frame["item_ctr_7d"] - 0.5 * frame["price"]
               + rng.normal(scale=0.7, size=n))
    frame["grade"] = np.digitize(utility, [1.2, 2.2, 3.0]).astype(np.int64)
    frame.insert(0, "request_id", np.repeat([f"r{seed}-{i:05d}" for i in range(n_requests)],
                                            per_request))
    frame.insert(1, "item_id", rng.integers(0, 10**6, size=n))
    frame.insert(2, "surface", np.repeat(rng.choice(["search", "feed"], n_requests), per_request))
    # The order a weak production ranker logged: a very noisy view of the same utility.
    logged = pd.Series(-(utility + rng.normal(scale=3.0, size=n)))
    frame["position"] = logged.groupby(frame["request_id"]).rank(method="first").astype(int)
    return frame


def baseline_of(frame: pd.DataFrame, score: str) -> LoggedBaseline:
    """``score`` against the logged order of ``frame``, every position examined."""
    return logged_baseline(frame, FLAT, "flat (synthetic labels)", score)


def train_ranker(frame: pd.DataFrame, rounds: int = 30, shuffle_labels: bool = False,
                 seed: int = 0) -> xgb.Booster:
    """A small rank:ndcg booster; with shuffled labels it learns nothing useful."""
    labels = frame["grade"].to_numpy()
    if shuffle_labels:
        labels = np.random.default_rng(seed).permutation(labels)
    qid = pd.factorize(frame["request_id"])[0]
    dtrain = xgb.DMatrix(frame[FEATURES], label=labels, qid=qid)
    return xgb.train({"objective": "rank:ndcg", "eta": 0.3, "max_depth": 4, "nthread": 2,
                      "seed": seed}, dtrain, rounds)


def scored(frame: pd.DataFrame, **boosters: xgb.Booster) -> pd.DataFrame:
    """``frame`` with one score column per booster."""
    out = frame.copy()
    for name, booster in boosters.items():
        out[name] = booster.predict(xgb.DMatrix(frame[FEATURES]), output_margin=True)
    return out


@pytest.fixture(scope="module")
def models() -> dict[str, object]:
    train = synthetic_requests(300, seed=1)
    test = synthetic_requests(200, seed=2)
    good, bad = train_ranker(train), train_ranker(train, shuffle_labels=True)
    frame = scored(test, good=good, bad=bad)
    per = {name: per_request_metrics(frame, name) for name in ("good", "bad")}
    return {"frame": frame, "per": per, "train": train}


def gate_inputs(models: dict, challenger: str, champion: str | None) -> dict:
    frame, per = models["frame"], models["per"]
    return {"challenger": per[challenger], "champion": per[champion] if champion else None,
            "churn": ranking_churn(frame, challenger, champion) if champion else None,
            "slices": slice_metrics(frame, {"surface": "surface"}, score=challenger),
            "parity": PASSED_PARITY, "data_gate": PASSED_DATA,
            "baseline": baseline_of(frame, challenger)}


def test_first_model_is_judged_on_floors_alone(models):
    inputs = gate_inputs(models, "good", None)
    verdict = model_gate(gate=GateConfig(min_ndcg=0.3), **inputs)
    assert verdict.passed, verdict.reasons
    for name in ("non_regression", "churn"):
        assert verdict.check(name).passed and "first model" in verdict.check(name).detail
    assert "champion" not in verdict.extra["metrics"]

    strict = model_gate(gate=GateConfig(min_ndcg=0.99), **inputs)
    assert not strict.passed
    assert strict.reasons == [f"ndcg_floor: {strict.check('ndcg_floor').detail}"]


def test_better_challenger_passes_and_degraded_one_fails(models):
    gate = GateConfig(min_ndcg=0.1, min_gain=0.0)
    better = model_gate(gate=gate, **gate_inputs(models, "good", "bad"))
    assert better.passed, better.reasons
    assert better.check("non_regression").value > 0
    assert better.check("required_gain").value > 0  # lower end of the interval

    worse = model_gate(gate=GateConfig(min_ndcg=0.1), **gate_inputs(models, "bad", "good"))
    assert not worse.passed
    regression = worse.check("non_regression")
    assert not regression.passed and regression.value < 0 and regression.threshold == 0
    assert any(r.startswith("non_regression:") for r in worse.reasons)
    assert worse.extra["paired_test"]["ci_high"] < 0


def test_tolerated_regression_and_churn_cap(models):
    inputs = gate_inputs(models, "bad", "good")
    effect = model_gate(gate=GateConfig(min_ndcg=0.0), **inputs).check("non_regression").value
    lenient = model_gate(gate=GateConfig(min_ndcg=0.0, max_regression=1.0, baseline_margin=1.0),
                         **inputs)
    assert lenient.check("non_regression").passed and effect < 0
    capped = model_gate(gate=GateConfig(min_ndcg=0.0, max_regression=1.0, max_churn=0.05,
                                        baseline_margin=1.0), **inputs)
    churn = capped.check("churn")
    assert not churn.passed and churn.value > 0.05 and capped.reasons == [f"churn: {churn.detail}"]


def test_slice_floors_parity_and_data_gate_are_checked(models):
    inputs = gate_inputs(models, "good", None)
    gate = GateConfig(min_ndcg=0.1, slice_floors={"surface=search": 0.99, "surface": 0.1,
                                                  "country": 0.1})
    verdict = model_gate(gate=gate, **inputs)
    assert not verdict.check("slice_floor[surface=search]").passed
    assert verdict.check("slice_floor[surface=feed]").passed
    assert verdict.check("slice_floor[country]").detail == "the slice table has no such slice"

    broken = ParityReport(False, 0.5, 200, 20, 3, True, ["3 of 20 requests ordered differently"])
    failed_data = Verdict([Check("label_rate", 0.9, "[0.01, 0.5]", False, "outside")])
    verdict = model_gate(gate=GateConfig(min_ndcg=0.1),
                         **{**inputs, "parity": broken, "data_gate": failed_data})
    assert set(verdict.reasons) == {"onnx_parity: 3 of 20 requests ordered differently",
                                    "data_gate_2: label_rate: outside"}
    missing = model_gate(gate=GateConfig(min_ndcg=0.1), **{**inputs, "parity": None})
    assert not missing.check("onnx_parity").passed
    assert model_gate(gate=GateConfig(min_ndcg=0.1, require_parity=False),
                      **{**inputs, "parity": None}).passed


def test_verdict_json_has_every_check_with_value_threshold_and_verdict(models):
    verdict = model_gate(gate=GateConfig(min_ndcg=0.1), **gate_inputs(models, "good", "bad"))
    record = json.loads(json.dumps(verdict.as_dict()))
    names = [c["name"] for c in record["checks"]]
    assert names == ["ndcg_floor", "non_regression", "churn", "logging_baseline", "onnx_parity",
                     "data_gate_2"]
    for check in record["checks"]:
        assert set(check) == {"name", "value", "threshold", "passed", "detail"}
    assert record["passed"] is True and record["reasons"] == []
    assert record["metrics"]["challenger"]["ndcg@10"] == pytest.approx(
        models["per"]["good"]["ndcg@10"].mean())


def test_the_logged_ranking_judges_every_challenger_the_first_included(models):
    gate = GateConfig(min_ndcg=0.0)
    good = model_gate(gate=gate, **gate_inputs(models, "good", None))
    check = good.check("logging_baseline")
    assert good.passed and check.value > 0 and check.threshold == 0
    assert good.extra["logging_baseline"]["ci_low"] <= check.value
    # Shuffled labels: above a zero floor, below the logged ranking; that alone rejects it.
    bad = model_gate(gate=gate, **gate_inputs(models, "bad", None))
    assert [r.split(":")[0] for r in bad.reasons] == ["logging_baseline"]
    assert bad.check("logging_baseline").value < 0
    assert "against the logged ranking" in bad.check("logging_baseline").detail
    # A margin tolerates a deficit up to it, relative to the logged ranking.
    deficit = -bad.check("logging_baseline").value
    assert model_gate(gate=GateConfig(min_ndcg=0.0, baseline_margin=deficit + 0.01),
                      **gate_inputs(models, "bad", None)).passed
    missing = model_gate(gate=gate, **{**gate_inputs(models, "good", None), "baseline": None})
    assert [r.split(":")[0] for r in missing.reasons] == ["logging_baseline"]


def test_gate_refuses_different_request_sets(models):
    inputs = gate_inputs(models, "good", "bad")
    inputs["champion"] = inputs["champion"].iloc[5:]
    with pytest.raises(RankctError, match="different requests"):
        model_gate(gate=GateConfig(), **inputs)


def test_label_rate_band():
    frame = pd.DataFrame({"grade": [0] * 90 + [1] * 10})
    assert label_rate_check(frame, GateConfig(label_rate_low=0.05, label_rate_high=0.2)).passed
    low = label_rate_check(frame, GateConfig(label_rate_low=0.2, label_rate_high=0.5))
    assert not low.passed and low.value == pytest.approx(0.1) and "outside" in low.detail
    high = label_rate_check(frame, GateConfig(label_rate_low=0.0, label_rate_high=0.05))
    assert not high.passed
    with pytest.raises(ValueError):
        GateConfig(label_rate_low=0.6, label_rate_high=0.5)


def test_data_gate2_flags_drifted_training_set(tmp_path):
    reference = synthetic_requests(150, seed=3)
    same = synthetic_requests(150, seed=4)
    drifted = synthetic_requests(150, seed=5)
    drifted[FEATURES[:4]] += 2.0  # four of six features move by two standard deviations
    gate = GateConfig(max_drift_share=0.5, label_rate_low=0.01, label_rate_high=0.9)

    calm = data_gate2(same, reference, FEATURES, gate, tmp_path / "calm")
    assert calm.passed, calm.reasons
    moved = data_gate2(drifted, reference, FEATURES, gate, tmp_path / "moved")
    check = moved.check("feature_drift")
    assert not check.passed and check.value == pytest.approx(4 / 6)
    assert moved.extra["drifted_columns"] == sorted(FEATURES[:4])
    saved = json.loads((tmp_path / "moved" / "result.json").read_text())
    assert saved["passed"] is False and saved["checks"][1]["name"] == "feature_drift"
    assert (tmp_path / "moved" / "feature_drift.html").stat().st_size > 10_000

    first = data_gate2(same, None, FEATURES, gate, tmp_path / "first")
    assert first.passed and "first model" in first.check("feature_drift").detail
