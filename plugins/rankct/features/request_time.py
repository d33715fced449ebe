"""Request-time features, which need the user, the item and the request together.

Feast's on-demand views (``feature_repo/on_demand_views.py``) call these functions, and so does
batch scoring: training, online serving and batch scoring compute them with the same code.
"""

from __future__ import annotations

import pandas as pd


def price_to_user_median(price: pd.Series, user_median_price: pd.Series) -> pd.Series:
    """Item price over the user's 30-day median purchase price (1.0 when the user never bought)."""
    median = user_median_price.astype("float64")
    ratio = price.astype("float64") / median.where(median > 0)
    return ratio.fillna(1.0).rename("price_to_user_median")


def query_category_match(query: pd.Series, item_category: pd.Series) -> pd.Series:
    """1 when the search query names the item's category, else 0 (also 0 without a query)."""
    queries = query.fillna("").astype(str).str.lower()
    categories = item_category.fillna("").astype(str).str.lower()
    match = [int(bool(c) and c in q) for q, c in zip(queries, categories)]
    return pd.Series(match, index=query.index, dtype="int64", name="query_category_match")
