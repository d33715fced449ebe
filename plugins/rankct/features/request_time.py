"""Request-time features, which need the user, the item and the request together.

Feast's on-demand views (``feature_repo/on_demand_views.py``) call these functions, and so does
batch scoring: training, online serving and batch scoring compute them with the same code.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def price_to_user_median(price: pd.Series, user_median_price: pd.Series) -> pd.Series:
    """Item price over the user's 30-day median purchase price (1.0 when the user never bought)."""
    median = user_median_price.astype("float64")
    ratio = price.astype("float64") / median.where(median > 0)
    return ratio.fillna(1.0).rename("price_to_user_median")


def query_category_match(query: pd.Series, item_category: pd.Series) -> pd.Series:
    """1 when the search query names the item's category, else 0 (also 0 without a query)."""
    return _per_distinct_pair(query, item_category, _names_category, "query_category_match")


def query_brand_match(query: pd.Series, item_brand: pd.Series) -> pd.Series:
    """1 when the search query names the item's brand (a word of it), else 0 (also 0 without a
    query): "kalo dresses" names the brand Kalo, a category match alone does not."""
    return _per_distinct_pair(query, item_brand, _names_brand, "query_brand_match")


def _names_category(query: pd.Series, category: pd.Series) -> list[int]:
    queries = query.fillna("").astype(str).str.lower()
    categories = category.fillna("").astype(str).str.lower()
    return [int(bool(c) and c in q) for q, c in zip(queries, categories)]


def _names_brand(query: pd.Series, brand: pd.Series) -> list[int]:
    queries = query.fillna("").astype(str).str.lower().str.split()
    brands = brand.fillna("").astype(str).str.lower()
    return [int(bool(b) and b in words) for words, b in zip(queries, brands)]


def _per_distinct_pair(query: pd.Series, other: pd.Series,
                       match: Callable[[pd.Series, pd.Series], list[int]],
                       name: str) -> pd.Series:
    """``match`` of every row, computed once per distinct (query, other) pair: a training set's
    million rows hold a few thousand pairs, and the string work per row was 10 s of a medium
    training-set task. Missing values of either side (None or NaN) are one value, as ``match``
    treats them alike."""
    query_codes, queries = pd.factorize(query, use_na_sentinel=False)
    other_codes, others = pd.factorize(other, use_na_sentinel=False)
    pair_codes, pairs = pd.factorize(query_codes.astype(np.int64) * max(len(others), 1)
                                     + other_codes)
    query_of, other_of = np.divmod(pairs, max(len(others), 1))
    distinct = np.asarray(match(pd.Series(np.asarray(queries, dtype=object)[query_of]),
                                pd.Series(np.asarray(others, dtype=object)[other_of])),
                          dtype=np.int64)
    return pd.Series(distinct[pair_codes], index=query.index, dtype="int64", name=name)


def size_fit(item_size: pd.Series, user_top_size: pd.Series) -> pd.Series:
    """1.0 when the item's size is the size the user clicks and buys most, 0.0 when it is
    another, missing when the item has no size (bags, books) or the user no sized history."""
    sizes = item_size.astype("object")
    usual = user_top_size.astype("object").to_numpy()
    known = sizes.notna().to_numpy() & pd.notna(usual)
    same = (sizes.to_numpy() == usual).astype("float64")
    return pd.Series(same, index=item_size.index).where(known).rename("size_fit")
