"""Request-time features: the one implementation that Feast's on-demand views and batch
scoring both call."""

from __future__ import annotations

import pandas as pd
from rankct.features.request_time import price_to_user_median, query_category_match


def test_price_to_user_median_by_hand() -> None:
    price = pd.Series([30.0, 10.0, 50.0, 8.0])
    median = pd.Series([15.0, 0.0, None, 16.0])
    ratio = price_to_user_median(price, median)
    # A user who never bought (no median, or 0) gets the neutral 1.0.
    assert ratio.tolist() == [2.0, 1.0, 1.0, 0.5]
    assert ratio.name == "price_to_user_median"


def test_query_category_match_is_case_blind_and_zero_without_query() -> None:
    query = pd.Series(["Vintage DRESSES", None, "shoes", "", "dresses"], index=[5, 6, 7, 8, 9])
    category = pd.Series(["dresses", "dresses", "dresses", "dresses", None], index=query.index)
    match = query_category_match(query, category)
    assert match.tolist() == [1, 0, 0, 0, 0]
    assert match.dtype == "int64" and list(match.index) == [5, 6, 7, 8, 9]
