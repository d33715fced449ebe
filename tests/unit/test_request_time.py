"""Request-time features: the one implementation that Feast's on-demand views and batch
scoring both call, and batch scoring's two ways to the model's matrix (pandas, Arrow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from rankct.features.request_time import (
    price_to_user_median,
    query_brand_match,
    query_category_match,
    size_fit,
)
from rankct.scoring.frame import (
    PACKED,
    REQUEST_TIME_FEATURES,
    REQUEST_TIME_INPUTS,
    add_request_features,
    arrow_feature_matrix,
    feature_matrix,
)


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


def test_query_brand_match_needs_the_brand_as_a_word_of_the_query() -> None:
    query = pd.Series(["kalo dresses", "Kalo", "kalomira tops", None, "dresses"])
    brand = pd.Series(["Kalo", "kalo", "Kalo", "Kalo", "Kalo"])
    assert query_brand_match(query, brand).tolist() == [1, 1, 0, 0, 0]
    assert query_brand_match(query, pd.Series([None] * 5)).tolist() == [0] * 5


def test_size_fit_is_missing_without_a_size_on_either_side() -> None:
    item = pd.Series(["M", "M", None, "S", "XL"], index=[3, 4, 5, 6, 7])
    user = pd.Series(["M", "L", "M", None, "XL"], index=item.index)
    fit = size_fit(item, user)
    assert fit.iloc[[0, 1, 4]].tolist() == [1.0, 0.0, 1.0] and fit.iloc[[2, 3]].isna().all()
    assert list(fit.index) == [3, 4, 5, 6, 7] and fit.name == "size_fit"


def test_batch_scoring_dedup_matches_the_shared_function_row_by_row() -> None:
    """``add_request_features`` matches each distinct category once and spreads the answers:
    the same values as calling the shared function on every row."""
    rows = pd.DataFrame({"price": [30.0, 10.0, 50.0, 8.0, 12.0],
                         "user_median_purchase_price_30d": [15.0, 0.0, None, 16.0, 6.0],
                         "item_category": ["dresses", "Shoes", None, "dresses", "bags"],
                         "item_brand": ["Kalo", "Vena", None, "kalo", "Lux"],
                         "item_size": ["M", None, "S", "M", None],
                         "user_top_size": ["M", "M", None, "L", "S"]})
    for query in ("", "red dresses and shoes", "BAGS", "kalo dresses"):
        got = add_request_features(rows.copy(), query)
        expected = query_category_match(pd.Series(query, index=rows.index),
                                        rows["item_category"])
        assert got["query_category_match"].tolist() == expected.tolist()
        assert got["price_to_user_median"].tolist() == price_to_user_median(
            rows["price"], rows["user_median_purchase_price_30d"]).tolist()
        assert got["query_brand_match"].tolist() == query_brand_match(
            pd.Series(query, index=rows.index), rows["item_brand"]).tolist()
        pd.testing.assert_series_equal(got["size_fit"], size_fit(rows["item_size"],
                                                                 rows["user_top_size"]))


def _arrow_batch(rows: pd.DataFrame, names: list[str]) -> pa.RecordBatch:
    """The batch Spark sends a scoring task: keys, request-time inputs, the packed features
    (float32, null where missing, request-time slots null)."""
    n, m = len(rows), len(names)
    table = [[None if n_ in REQUEST_TIME_FEATURES or pd.isna(v) else float(np.float32(v))
              for n_, v in zip(names, row, strict=True)]
             for row in rows.reindex(columns=names).itertuples(index=False)]
    packed = pa.ListArray.from_arrays(pa.array(np.arange(0, n * m + 1, m, dtype=np.int32)),
                                      pa.array([v for row in table for v in row], pa.float32()))
    return pa.RecordBatch.from_arrays(
        [pa.array(rows[c]) for c in REQUEST_TIME_INPUTS] + [packed],
        names=[*REQUEST_TIME_INPUTS, PACKED])


def test_arrow_matrix_of_a_scoring_task_equals_the_pandas_matrix() -> None:
    rows = pd.DataFrame({"price": [30.0, 10.0, 50.0], "user_median_purchase_price_30d":
                         [15.0, None, 25.0], "item_category": ["dresses", None, "bags"],
                         "item_brand": ["Kalo", "Lux", None], "item_size": ["S", None, "M"],
                         "user_top_size": ["S", "M", "L"],
                         "clicks_7d": pd.array([3, None, 7], dtype="Int64"),
                         "ctr_7d": [0.5, np.nan, 0.25]})
    # Request-time features between table features, as a trained model may order them.
    names = ["price", "query_category_match", "clicks_7d", "price_to_user_median", "ctr_7d",
             "size_fit", "query_brand_match"]
    for query in ("", "bags", "lux bags"):
        expected = feature_matrix(add_request_features(rows.copy(), query), names)
        got = arrow_feature_matrix(_arrow_batch(rows, names), names, query)
        assert got.dtype == np.float32 and got.flags.writeable
        np.testing.assert_array_equal(got, expected)
    # Without any null the packed values are Arrow's read-only memory: still a writable copy.
    names = ["price", "price_to_user_median"]
    full = rows.iloc[[0, 2]].reset_index(drop=True)
    np.testing.assert_array_equal(arrow_feature_matrix(_arrow_batch(full, names), names),
                                  feature_matrix(add_request_features(full.copy()), names))


def test_query_matches_per_distinct_pair_equal_the_row_by_row_answer() -> None:
    """The matches are computed once per distinct (query, category or brand) pair: the same
    answers as matching each row, whatever mixes of case, None and NaN the rows hold."""
    rng = np.random.default_rng(3)
    queries = np.array(["Kalo dresses", "vintage DRESSES", "kalo", "shoes", "", None, np.nan,
                        "kalomira tops", "Tops Kalo"], dtype=object)
    names = np.array(["dresses", "Kalo", "kalo", "tops", None, np.nan, "Shoes", ""], dtype=object)
    query = pd.Series(queries[rng.integers(0, len(queries), 2000)],
                      index=rng.permutation(np.arange(5000, 7000)))
    name = pd.Series(names[rng.integers(0, len(names), 2000)], index=query.index)

    def text(value: object) -> str:
        return "" if pd.isna(value) else str(value).lower()

    category = [int(bool(text(c)) and text(c) in text(q)) for q, c in zip(query, name)]
    brand = [int(bool(text(b)) and text(b) in text(q).split()) for q, b in zip(query, name)]
    for match, expected in ((query_category_match(query, name), category),
                            (query_brand_match(query, name), brand)):
        assert match.tolist() == expected and 0 < sum(expected) < len(expected)
        assert match.dtype == "int64" and match.index.equals(query.index)
    empty = pd.Series([], dtype=object)
    assert query_brand_match(empty, empty).tolist() == []
