"""Ranking metrics, slices and position debiasing against independent references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rankct.errors import RankctError
from rankct.evaluation.metrics import evaluate, per_request_metrics, summarize
from rankct.evaluation.position_bias import estimate_propensities, ipw_ndcg
from rankct.evaluation.slices import slice_metrics
from sklearn.metrics import ndcg_score


def _random_requests(seed: int, n_requests: int = 150, ties: bool = False) -> pd.DataFrame:
    """Requests of 2..15 items, rows shuffled so no request is contiguous."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 16, n_requests)
    n = int(sizes.sum())
    frame = pd.DataFrame({
        "request_id": np.repeat([f"r{i:04d}" for i in range(n_requests)], sizes),
        "grade": rng.choice(4, n, p=[0.6, 0.2, 0.15, 0.05]),
        # Continuous scores have no ties (sklearn averages tied items); a few values have many.
        "score": rng.integers(0, 4, n).astype(float) if ties else rng.random(n),
    })
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("k", [1, 5, 10])
def test_ndcg_matches_sklearn(seed: int, k: int) -> None:
    frame = _random_requests(seed)
    ours = per_request_metrics(frame)
    checked = 0
    for request_id, rows in frame.groupby("request_id"):
        if rows["grade"].max() == 0:
            assert request_id not in ours.index
            continue
        expected = ndcg_score([2.0 ** rows["grade"].to_numpy() - 1], [rows["score"].to_numpy()],
                              k=k)
        assert ours.loc[request_id, f"ndcg@{k}"] == pytest.approx(expected, abs=1e-12)
        checked += 1
    assert checked == len(ours) > 100


def _reference_ap_rr(grades: list[int], scores: list[float]) -> tuple[float, float]:
    # Python's sort is stable: equal scores keep the rows' order, the documented tie rule.
    ranked = [g for _, g in sorted(zip(scores, grades), key=lambda pair: -pair[0])]
    hits, precisions, first = 0, [], None
    for rank, grade in enumerate(ranked, start=1):
        if grade > 0:
            hits += 1
            precisions.append(hits / rank)
            first = first or rank
    return sum(precisions) / hits, 1.0 / first


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_and_mrr_match_a_plain_loop_with_ties(seed: int) -> None:
    frame = _random_requests(seed, ties=True)
    ours = per_request_metrics(frame)
    for request_id, rows in frame.groupby("request_id", sort=False):
        if rows["grade"].max() == 0:
            continue
        ap, rr = _reference_ap_rr(rows["grade"].tolist(), rows["score"].tolist())
        assert ours.loc[request_id, "map"] == pytest.approx(ap, abs=1e-12)
        assert ours.loc[request_id, "mrr"] == pytest.approx(rr, abs=1e-12)


def test_hand_computed_request_and_exclusion() -> None:
    frame = pd.DataFrame({
        "request_id": ["a", "a", "a", "b", "b", "c"],
        "grade": [1, 3, 0, 0, 0, 2],
        "score": [0.5, 0.1, 0.9, 0.3, 0.7, 0.2],
    })
    # Request a ranks grades [0, 1, 3]; gains 2^g - 1 = [0, 1, 7], discounts 1, 1/log2(3), 1/2.
    # DCG@5 = 0 + 1/log2(3) + 7/2 = 4.130930; ideal [7, 1, 0]: 7 + 1/log2(3) = 7.630930.
    # NDCG@5 = 0.541340; NDCG@1 = 0/7 = 0. AP = (1/2 + 2/3) / 2 = 0.583333; RR = 1/2.
    result = per_request_metrics(frame)
    assert list(result.index) == ["a", "c"]
    a = result.loc["a"]
    assert a["ndcg@1"] == 0.0
    assert a["ndcg@5"] == pytest.approx(0.5413402936, abs=1e-9)
    assert a["ndcg@10"] == pytest.approx(0.5413402936, abs=1e-9)
    assert a["map"] == pytest.approx(0.5833333333, abs=1e-9)
    assert a["mrr"] == 0.5
    assert (a["n_items"], a["n_relevant"]) == (3, 2)
    assert result.loc["c", ["ndcg@10", "map", "mrr"]].tolist() == [1.0, 1.0, 1.0]

    # Request b (no relevant item) is neither 0 nor 1: it is left out and counted.
    metrics = evaluate(frame)
    assert metrics.n_requests == 2 and metrics.n_excluded_no_relevant == 1
    assert metrics.ndcg[5] == pytest.approx((0.5413402936 + 1.0) / 2, abs=1e-9)
    assert metrics.as_dict() == {
        "ndcg@1": 0.5, "ndcg@5": metrics.ndcg[5], "ndcg@10": metrics.ndcg[10],
        "map": pytest.approx((0.5833333333 + 1) / 2), "mrr": 0.75,
        "n_requests": 2, "n_excluded_no_relevant": 1}
    kept = per_request_metrics(frame, keep_unscored=True)
    assert kept.loc["b"].isna()[["ndcg@10", "map", "mrr"]].all()
    assert summarize(kept) == metrics


def test_ties_follow_the_frame_order() -> None:
    frame = pd.DataFrame({"request_id": [7, 7, 7], "grade": [0, 0, 3], "score": [1.0, 1.0, 1.0]})
    assert per_request_metrics(frame).loc[7, "mrr"] == pytest.approx(1 / 3)
    assert per_request_metrics(frame.iloc[::-1]).loc[7, "mrr"] == 1.0
    assert per_request_metrics(frame).equals(per_request_metrics(frame))


def test_perfect_ranking_scores_one_and_reversed_less() -> None:
    frame = _random_requests(5)
    frame["score"] = frame["grade"] + np.random.default_rng(5).random(len(frame)) * 0.5
    perfect = evaluate(frame)
    assert all(v == pytest.approx(1.0) for v in [*perfect.ndcg.values(), perfect.map, perfect.mrr])
    frame["score"] = -frame["score"]
    reversed_ = evaluate(frame)
    assert all(v < 1.0 for v in [*reversed_.ndcg.values(), reversed_.map, reversed_.mrr])


def test_other_column_names_and_bad_labels() -> None:
    frame = pd.DataFrame({"q": [1, 1, 2, 2], "rel": [0, 2, 1, 0], "s": [0.2, 0.1, 0.4, 0.3]})
    result = per_request_metrics(frame, score="s", label="rel", request="q", ks=(2,))
    assert list(result.columns) == ["ndcg@2", "map", "mrr", "n_items", "n_relevant"]
    assert result.index.name == "q"
    assert result["mrr"].tolist() == [0.5, 1.0]
    frame.loc[0, "rel"] = -1
    with pytest.raises(RankctError, match="non-negative"):
        per_request_metrics(frame, score="s", label="rel", request="q")


def test_slices_by_request_attribute_and_by_row_attribute() -> None:
    frame = _random_requests(11)
    codes = frame["request_id"].str[1:].astype(int)
    frame["surface"] = np.where(codes % 2 == 0, "search", "home")
    frame["is_new"] = np.random.default_rng(11).random(len(frame)) < 0.3
    result = slice_metrics(frame, {"surface": "surface", "new_item": frame["is_new"]})
    assert list(result.columns) == ["slice", "value", "ndcg@10", "map", "mrr", "n_requests"]
    assert list(zip(result["slice"], result["value"])) == [
        ("surface", "home"), ("surface", "search"), ("new_item", False), ("new_item", True)]

    search = result.set_index(["slice", "value"]).loc[("surface", "search")]
    whole_requests = evaluate(frame[frame["surface"] == "search"])
    assert search["ndcg@10"] == pytest.approx(whole_requests.ndcg[10])
    assert search["n_requests"] == whole_requests.n_requests

    # Row-level: each request restricted to its new items, re-ranked among themselves.
    new = result.set_index(["slice", "value"]).loc[("new_item", True)]
    sub_lists = per_request_metrics(frame[frame["is_new"]])
    assert new["mrr"] == pytest.approx(sub_lists["mrr"].mean())
    assert new["n_requests"] == len(sub_lists)

    with pytest.raises(RankctError, match="no column"):
        slice_metrics(frame, {"x": "missing"})
    with pytest.raises(RankctError, match="index"):
        slice_metrics(frame, {"x": frame["is_new"].iloc[1:]})


def _examination_logs(seed: int, n_requests: int = 20_000, n_positions: int = 10,
                      eta: float = 0.8) -> pd.DataFrame:
    # Randomised logging: relevance does not depend on the position, what the estimator assumes.
    rng = np.random.default_rng(seed)
    position = np.tile(np.arange(1, n_positions + 1), n_requests)
    relevant = rng.random(len(position)) < 0.3
    examined = rng.random(len(position)) < position ** -eta
    return pd.DataFrame({"position": position, "grade": (relevant & examined).astype(int)})


@pytest.mark.parametrize("seed", [0, 1])
def test_propensities_recover_the_examination_curve(seed: int) -> None:
    estimated = estimate_propensities(_examination_logs(seed))
    positions = np.arange(1, 11)
    assert list(estimated.index) == list(positions)
    assert estimated.loc[1] == 1.0
    np.testing.assert_allclose(estimated.to_numpy(), positions ** -0.8, atol=0.03)
    assert (np.diff(estimated.to_numpy()) <= 0).all()


def test_propensities_fall_back_where_data_is_thin() -> None:
    logs = _examination_logs(0)
    # Position 12 seen 50 times: too few rows, it takes position 10's value; 11 is never seen.
    tail = pd.DataFrame({"position": 12, "grade": np.r_[np.ones(40), np.zeros(10)].astype(int)})
    estimated = estimate_propensities(pd.concat([logs, tail]), min_impressions=1000)
    assert estimated.loc[11] == estimated.loc[12] == estimated.loc[10]
    with pytest.raises(RankctError, match="position 1"):
        estimate_propensities(logs[logs["position"] > 1])


def test_ipw_ndcg_removes_the_logging_rankers_advantage() -> None:
    rng = np.random.default_rng(3)
    n_requests, n_positions = 4000, 10
    truth = rng.choice(4, n_requests * n_positions, p=[0.6, 0.2, 0.15, 0.05])
    frame = pd.DataFrame({"request_id": np.repeat(np.arange(n_requests), n_positions),
                          "true_grade": truth,
                          "score": truth + 1.5 * rng.normal(size=len(truth))})
    # The logged list is this model's own ranking: evaluated on its own logs it looks too good.
    frame["position"] = (frame.groupby("request_id")["score"]
                         .rank(ascending=False, method="first").astype(int))
    propensity = pd.Series(np.arange(1.0, n_positions + 1) ** -1.0,
                           index=np.arange(1, n_positions + 1))
    examined = rng.random(len(frame)) < propensity.to_numpy()[frame["position"] - 1]
    frame["grade"] = np.where(examined, frame["true_grade"], 0)

    unbiased = evaluate(frame, label="true_grade").ndcg[10]
    naive = evaluate(frame).ndcg[10]
    debiased = ipw_ndcg(frame, propensity)
    assert abs(debiased - unbiased) < abs(naive - unbiased) / 3
    # A curve covering fewer positions extends with its last value.
    extended = propensity.copy()
    extended.iloc[5:] = propensity.iloc[4]
    assert ipw_ndcg(frame, propensity.iloc[:5]) == ipw_ndcg(frame, extended)
