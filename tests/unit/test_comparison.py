"""Paired challenger/champion test and ranking churn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rankct.errors import RankctError
from rankct.evaluation.comparison import paired_test, ranking_churn

METHODS = ["randomization", "bootstrap"]


def _per_request(seed: int, n: int = 2000, shift: float = 0.0) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    index = pd.Index([f"r{i}" for i in range(n)], name="request_id")
    champion = pd.Series(rng.uniform(0.2, 0.8, n), index=index)
    challenger = champion + shift + rng.normal(0.0, 0.1, n)
    return challenger, champion


@pytest.mark.parametrize("method", METHODS)
def test_identical_systems(method: str) -> None:
    _, champion = _per_request(0)
    result = paired_test(champion, champion.copy(), method=method, n_resamples=2000)
    assert result.effect == 0.0
    assert result.p_value == 1.0
    assert result.ci_low == result.ci_high == 0.0
    assert result.n_requests == 2000


@pytest.mark.parametrize("method", METHODS)
def test_clearly_better_challenger(method: str) -> None:
    challenger, champion = _per_request(1, shift=0.05)
    result = paired_test(challenger, champion, method=method, n_resamples=2000)
    assert result.effect == pytest.approx(0.05, abs=0.01)
    assert result.p_value < 0.01
    assert 0 < result.ci_low < result.effect < result.ci_high
    assert result.as_dict()["method"] == method


@pytest.mark.parametrize("method", METHODS)
def test_no_difference_is_not_significant(method: str) -> None:
    challenger, champion = _per_request(2)
    result = paired_test(challenger, champion, method=method, n_resamples=2000)
    assert result.p_value > 0.05
    assert result.ci_low < 0 < result.ci_high


def test_deterministic_for_a_seed_and_aligned_on_common_requests() -> None:
    challenger, champion = _per_request(3, shift=0.01)
    # Shuffled order and extra requests on one side do not change the paired result.
    first = paired_test(challenger.sample(frac=1.0, random_state=1), champion.iloc[:1500],
                        n_resamples=500, seed=7)
    again = paired_test(challenger.iloc[:1500], champion.iloc[:1500], n_resamples=500, seed=7)
    assert first == again
    assert first.n_requests == 1500
    assert paired_test(challenger, champion, n_resamples=500, seed=8) != paired_test(
        challenger, champion, n_resamples=500, seed=7)
    # Both methods share the bootstrap interval for a seed.
    bootstrap = paired_test(challenger.iloc[:1500], champion.iloc[:1500], method="bootstrap",
                            n_resamples=500, seed=7)
    assert (bootstrap.ci_low, bootstrap.ci_high) == (first.ci_low, first.ci_high)


def test_no_common_request_is_an_error() -> None:
    a = pd.Series([0.5, 0.6], index=["a", "b"])
    b = pd.Series([0.5, 0.6], index=["c", "d"])
    with pytest.raises(RankctError, match="no request in common"):
        paired_test(a, b)
    with pytest.raises(RankctError, match="method"):
        paired_test(a, a, method="t-test")  # type: ignore[arg-type]


def _churn_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "request_id": ["x"] * 4 + ["y"] * 3 + ["z"],
        "item_id": [1, 2, 3, 4, 1, 2, 3, 9],
        "challenger": [4.0, 3.0, 2.0, 1.0, 3.0, 2.0, 1.0, 1.0],
    })


def test_churn_of_identical_scores() -> None:
    frame = _churn_frame()
    frame["champion"] = frame["challenger"]
    churn = ranking_churn(frame, k=2)
    assert (churn.mean_top_k_overlap, churn.top1_changed_share, churn.n_requests) == (1.0, 0.0, 3)


def test_churn_of_reversed_scores() -> None:
    frame = _churn_frame()
    frame["champion"] = -frame["challenger"]
    churn = ranking_churn(frame, k=2)
    # x: top-2 {1, 2} vs {4, 3} -> 0/2. y: {1, 2} vs {3, 2} -> 1/2. z: one item -> 1/min(2, 1).
    assert churn.mean_top_k_overlap == pytest.approx((0 + 0.5 + 1) / 3)
    # Top item changes in x and y, not in z (a single item).
    assert churn.top1_changed_share == pytest.approx(2 / 3)
    assert churn.as_dict() == {"mean_top_k_overlap": churn.mean_top_k_overlap,
                               "top1_changed_share": churn.top1_changed_share,
                               "n_requests": 3, "k": 2}


def test_churn_refuses_an_item_twice_in_a_request() -> None:
    frame = _churn_frame()
    frame["champion"] = frame["challenger"]
    frame.loc[1, "item_id"] = 1
    with pytest.raises(RankctError, match="twice"):
        ranking_churn(frame)
