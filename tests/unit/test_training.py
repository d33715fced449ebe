"""The trainer on synthetic position-biased logs with a known utility: time split, objectives,
determinism, error paths and the budgeted search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from rankct.config import TrainingConfig, TrainingSplitConfig
from rankct.errors import RankctError
from rankct.evaluation.metrics import evaluate
from rankct.training.run import train_and_test
from rankct.training.search import random_search
from rankct.training.split import split_by_time
from rankct.training.trainer import train_ranker

FEATURES = ["x0", "x1", "x2", "x3", "x4"]
START = pd.Timestamp("2026-11-01", tz="UTC")


def cfg(**fields) -> TrainingConfig:
    """Training settings for tests: one thread, as XGBoost's thread pool stalls on busy cores."""
    return TrainingConfig(nthread=1, **fields)


def synthetic_frame(n_requests: int = 300, n_items: int = 20, days: int = 6,
                    seed: int = 0) -> pd.DataFrame:
    """Impressions whose true grade follows a known utility of x0..x2 plus noise (x3 has missing
    values, x3 and x4 are noise). A weak logging policy sets the positions and users examine
    position p with probability p^-0.8, so the logged ``grade`` is 0 where they did not look."""
    rng = np.random.default_rng(seed)
    n = n_requests * n_items
    x = rng.normal(size=(n, len(FEATURES)))
    x[rng.random(n) < 0.05, 3] = np.nan
    utility = 1.2 * x[:, 0] + 0.8 * x[:, 1] - 0.6 * x[:, 2] + rng.normal(scale=0.7, size=n)
    true_grade = np.digitize(utility, [1.0, 1.8, 2.6])
    request = np.repeat(np.arange(n_requests), n_items)
    logging_score = 0.5 * utility + rng.normal(scale=1.5, size=n)
    order = np.lexsort((-logging_score, request))
    position = np.empty(n, dtype=np.int64)
    position[order] = np.tile(np.arange(1, n_items + 1), n_requests)
    examined = rng.random(n) < position.astype(float) ** -0.8
    served = START + pd.to_timedelta(np.sort(rng.uniform(0, days * 86_400, n_requests)), "s")
    frame = pd.DataFrame(x, columns=FEATURES)
    frame.insert(0, "request_id", [f"r{r:04d}" for r in request])
    frame.insert(1, "event_timestamp", served[request])
    frame.insert(2, "position", position)
    frame.insert(3, "grade", np.where(examined, true_grade, 0))
    frame["true_grade"] = true_grade
    frame["utility"] = utility
    # Logged order is not position order: the split must restore it.
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture(scope="module")
def split():
    return split_by_time(synthetic_frame())


def test_split_keeps_requests_whole_and_respects_time(split) -> None:
    sides = [set(part["request_id"]) for part in (split.train, split.valid, split.test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert split.train["event_timestamp"].max() < split.valid["event_timestamp"].min()
    assert split.valid["event_timestamp"].max() < split.test["event_timestamp"].min()
    # One calendar day each for validation and test (the defaults), the rest is train.
    assert split.test["event_timestamp"].dt.floor("D").unique().tolist() == [START + pd.Timedelta(days=5)]
    assert split.valid["event_timestamp"].dt.floor("D").unique().tolist() == [START + pd.Timedelta(days=4)]
    for part in (split.train, split.valid, split.test):
        ids = part["request_id"].to_numpy()
        assert (ids[1:] != ids[:-1]).sum() + 1 == len(set(ids)), "a request's rows are apart"
        assert part.groupby("request_id", sort=False)["position"].apply(
            lambda p: p.is_monotonic_increasing).all()
        assert part["event_timestamp"].is_monotonic_increasing


def test_split_by_fraction_cuts_by_request_count() -> None:
    frame = synthetic_frame(n_requests=100, days=1)
    split = split_by_time(frame, TrainingSplitConfig(by="fraction", valid=0.2, test=0.1))
    assert [part["request_id"].nunique() for part in (split.train, split.valid, split.test)] == [70, 20, 10]
    assert split.train["event_timestamp"].max() <= split.valid["event_timestamp"].min()


def test_empty_split_names_the_split_and_what_to_do() -> None:
    frame = synthetic_frame(n_requests=50, days=2)
    with pytest.raises(RankctError, match="train split is empty") as error:
        split_by_time(frame)
    assert "more days" in str(error.value)
    with pytest.raises(RankctError, match="missing served times"):
        split_by_time(frame.assign(event_timestamp=pd.NaT))


def test_naive_timestamps_are_utc(split) -> None:
    frame = synthetic_frame()
    naive = split_by_time(frame.assign(event_timestamp=frame["event_timestamp"].dt.tz_localize(None)))
    for ours, theirs in ((naive.train, split.train), (naive.test, split.test)):
        assert ours["request_id"].tolist() == theirs["request_id"].tolist()


def test_missing_feature_column_is_named(split) -> None:
    with pytest.raises(RankctError, match="'x9'") as error:
        train_ranker(split.train, split.valid, [*FEATURES, "x9"], cfg())
    assert error.value.hint and "FeatureService" in error.value.hint


def test_same_data_and_seed_give_the_same_model_bytes(split) -> None:
    config = TrainingConfig(num_boost_round=60, nthread=2)  # two threads, as CI and prod
    first = train_ranker(split.train, split.valid, FEATURES, config)
    second = train_ranker(split.train, split.valid, FEATURES, config)
    assert first.model_bytes() == second.model_bytes()
    reseeded = train_ranker(split.train, split.valid, FEATURES, config.model_copy(update={"seed": 1}))
    assert reseeded.model_bytes() != first.model_bytes()  # subsample 0.8 draws with the seed


def _truth_ndcg(frame: pd.DataFrame, scores: np.ndarray) -> float:
    return evaluate(frame.assign(score=scores), label="true_grade").ndcg[10]


@pytest.mark.parametrize("objective", ["click_model", "rank:ndcg", "rank:pairwise",
                                       "lambdarank_unbiased"])
def test_each_objective_beats_a_random_ordering(split, objective: str) -> None:
    ranker = train_ranker(split.train, split.valid, FEATURES, cfg(objective=objective))
    random_order = np.random.default_rng(1).random(len(split.test))
    model = _truth_ndcg(split.test, ranker.predict(split.test))
    assert model > _truth_ndcg(split.test, random_order) + 0.15
    assert model > _truth_ndcg(split.test, -split.test["position"].to_numpy())  # logging policy
    assert ranker.objective == objective


def test_unbiased_objective_estimates_a_falling_examination_curve(split) -> None:
    ranker = train_ranker(split.train, split.valid, FEATURES,
                          cfg(objective="lambdarank_unbiased"))
    bias = ranker.position_bias
    assert bias is not None and bias["ti+"].iloc[0] == pytest.approx(1.0)
    assert bias["ti+"].iloc[-3:].mean() < bias["ti+"].iloc[0]
    assert ranker.params["lambdarank_unbiased"] is True


def test_saved_model_scores_like_predict_and_validation_ndcg_is_rankct_ndcg(split, tmp_path) -> None:
    ranker = train_ranker(split.train, split.valid, FEATURES, cfg(objective="rank:ndcg"))
    assert ranker.booster.num_boosted_rounds() == ranker.best_iteration + 1
    assert len(ranker.curve) > ranker.best_iteration + 1  # it trained past the best, then cut
    loaded = xgb.Booster(model_file=str(ranker.save(tmp_path / "model.json")))
    matrix = xgb.DMatrix(split.test[FEATURES].to_numpy(np.float32), feature_names=FEATURES)
    np.testing.assert_array_equal(loaded.predict(matrix, output_margin=True),
                                  ranker.predict(split.test))
    valid = evaluate(split.valid.assign(score=ranker.predict(split.valid)))
    assert valid.ndcg[10] == pytest.approx(ranker.best_score, abs=1e-6)


def test_click_model_learns_relevance_not_the_logged_order(split) -> None:
    ranker = train_ranker(split.train, split.valid, FEATURES, cfg())
    assert ranker.objective == "click_model" and ranker.params["objective"] == "reg:squarederror"
    bias = ranker.position_bias  # no user and item ids here: the click-rate fallback curve
    assert bias["propensity"].iloc[0] == 1.0 and bias["propensity"].is_monotonic_decreasing
    assert ranker.booster.num_boosted_rounds() == ranker.best_iteration + 1
    assert ranker.best_score == max(ranker.curve) < 0  # a log-likelihood
    # x0..x2 drive relevance; the logged position is not a feature, and noise is not used.
    gain = ranker.booster.get_score(importance_type="total_gain")
    assert min(gain.get(f, 0) for f in ("x0", "x1")) > 3 * gain.get("x4", 0)
    with pytest.raises(RankctError, match="logged position"):
        train_ranker(split.train.drop(columns="position"), split.valid, FEATURES, cfg())


def test_search_respects_its_budget_and_returns_the_best_trial(split) -> None:
    config = cfg(num_boost_round=40, early_stopping_rounds=10)
    result = random_search(split.train, split.valid, FEATURES, config, n_trials=3)
    assert list(result.trials["trial"]) == [0, 1, 2]
    best = result.trials.loc[result.trials["valid_ndcg@10"].idxmax()]
    assert result.best_score == best["valid_ndcg@10"] >= result.trials["valid_ndcg@10"].iloc[0]
    for name, value in result.best_params.items():
        assert best[name] == pytest.approx(value)
    again = random_search(split.train, split.valid, FEATURES, config, n_trials=3)
    pd.testing.assert_frame_equal(again.trials.drop(columns="seconds"),
                                  result.trials.drop(columns="seconds"))
    # A spent time budget starts no trial after the first.
    assert len(random_search(split.train, split.valid, FEATURES, config, seconds=1e-9).trials) == 1
    with pytest.raises(RankctError, match="no budget"):
        random_search(split.train, split.valid, FEATURES, config)


def test_train_and_test_reports_test_metrics(split) -> None:
    outcome = train_and_test(split.train, split.valid, split.test, FEATURES, cfg(),
                             search_trials=2)
    assert outcome.search is not None and len(outcome.search.trials) == 2
    assert outcome.test_metrics.n_requests + outcome.test_metrics.n_excluded_no_relevant == \
        split.test["request_id"].nunique()
    assert "NDCG@10" in outcome.summary() and "training time" in outcome.summary()
