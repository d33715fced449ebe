"""The in-worker feature lookup gives the model rows the joins give, bit for bit, on every case
a join has: a user without features, a user only the affinities know, an item without a category,
an affinity row with a null key, an item without features, int and bool columns."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from rankct.errors import RankctError
from rankct.scoring.frame import add_request_features, feature_matrix, scoring_rows_in_pandas
from rankct.scoring.lookup import FeatureLookup, lookup_bytes

NAMES = ["price", "clicks_7d", "is_new", "user_ctr_7d", "user_median_purchase_price_30d",
         "user_category_affinity_30d", "user_brand_affinity_30d", "price_to_user_median",
         "query_category_match"]


def _tables() -> dict[str, pd.DataFrame]:
    items = pd.DataFrame({
        "item_id": [10, 11, 12, 13],
        "item_category": ["bags", "shoes", None, "bags"],
        "item_brand": ["acme", None, "acme", "zed"],
        "price": [30.0, 12.5, np.nan, 1e-9],
        "clicks_7d": pd.array([3, None, 7, 2**40 + 1], dtype="Int64"),  # rounds to float32
        "is_new": [True, False, True, False],
        "event_timestamp": pd.Timestamp("2026-11-02", tz="UTC")})
    users = pd.DataFrame({"user_id": [1, 2], "user_ctr_7d": [0.1, np.nan],
                          "user_median_purchase_price_30d": [15.0, 0.0],
                          "top_category": ["bags", "shoes"]})
    category = pd.DataFrame({"user_id": [1, 1, 3, 2],
                             "category": ["bags", "shoes", "bags", None],
                             "user_category_affinity_30d": [0.7, 0.2, 0.9, 0.4]})
    brand = pd.DataFrame({"user_id": [1, 3], "brand": ["acme", "zed"],
                          "user_brand_affinity_30d": [0.5, 0.3]})
    return {"item_features": items, "user_features": users, "user_category_affinity": category,
            "user_brand_affinity": brand}


def test_lookup_rows_equal_the_joined_rows() -> None:
    tables = _tables()
    # user 3: affinities only; user 4: nothing; item 99: no features (dropped, as the join does).
    pairs = pd.DataFrame({"user_id": [1, 1, 1, 1, 2, 2, 3, 3, 4, 1],
                          "item_id": [10, 11, 12, 13, 10, 11, 10, 13, 12, 99]})
    lookup = pickle.loads(pickle.dumps(FeatureLookup(NAMES, tables)))  # as the broadcast sends it
    got, known = lookup.matrix(pairs["user_id"].to_numpy(), pairs["item_id"].to_numpy())
    assert known.tolist() == [True] * 9 + [False]
    expected = feature_matrix(add_request_features(
        scoring_rows_in_pandas(pairs[known], tables)), NAMES)
    np.testing.assert_array_equal(got, expected)
    # The cases are really there: affinity hits and misses, a user without features.
    assert got[0, NAMES.index("user_category_affinity_30d")] == np.float32(0.7)
    assert got[7, NAMES.index("user_brand_affinity_30d")] == np.float32(0.3)
    assert np.isnan(got[6, NAMES.index("user_ctr_7d")])
    assert np.isnan(got[5, NAMES.index("user_category_affinity_30d")])  # null-key row unread
    assert got[8, NAMES.index("price_to_user_median")] == 1.0


def test_read_matches_the_frames_and_the_estimate_bounds_the_size(tmp_path) -> None:
    tables, paths = _tables(), {}
    for name, frame in tables.items():
        paths[name] = tmp_path / name
        paths[name].mkdir()
        frame.to_parquet(paths[name] / "part-0.parquet", index=False)
        (paths[name] / "_SUCCESS").touch()  # as Spark leaves it: not a data file
    pairs = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [10, 11, 13]})
    from_files = FeatureLookup.read(NAMES, paths)
    np.testing.assert_array_equal(
        from_files.matrix(pairs["user_id"].to_numpy(), pairs["item_id"].to_numpy())[0],
        FeatureLookup(NAMES, tables).matrix(pairs["user_id"].to_numpy(),
                                            pairs["item_id"].to_numpy())[0])
    assert 0 < from_files.nbytes <= lookup_bytes(NAMES, paths)


def test_bad_tables_speak() -> None:
    tables = _tables()
    tables["user_features"] = pd.concat([tables["user_features"]] * 2, ignore_index=True)
    with pytest.raises(RankctError, match="user_features has 2 duplicate keys"):
        FeatureLookup(NAMES, tables)
    tables = _tables()
    tables["item_features"]["is_new"] = "yes"
    with pytest.raises(RankctError, match=r"\['is_new'\] are not numeric"):
        FeatureLookup(NAMES, tables)
    with pytest.raises(RankctError, match=r"no column for model features \['seller_rating'\]"):
        FeatureLookup([*NAMES, "seller_rating"], _tables())
