"""The Feast repository: plan/apply from the command line, materialization into SQLite, and the
online values equal to the offline (point-in-time) values, on-demand features included."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from rankct.errors import RankctError
from rankct.online.feast_repo import feature_store
from rankct.online.materialize import materialize_day

from tests.integration.conftest import LAST

pytestmark = pytest.mark.integration


def test_apply_registers_the_feature_service(applied) -> None:
    store = feature_store(applied)
    service = store.get_feature_service("ranker_v1")
    views = {p.name for p in service.feature_view_projections}
    assert {"item_features", "user_features", "user_category_affinity", "user_brand_affinity",
            "price_to_user_median", "query_category_match"} <= views


def test_opening_the_store_changes_no_environment_variable(applied) -> None:
    before = dict(os.environ)
    store = feature_store(applied)
    assert dict(os.environ) == before
    assert store.config.registry.path == str(applied.home / "feast" / "registry.db")
    assert store.config.online_store.path == str(applied.home / "feast" / "online.db")
    assert store.get_feature_service("ranker_v1").name == "ranker_v1"


def test_online_equals_offline_after_materialization(applied) -> None:
    store = feature_store(applied)
    cutoff = datetime(LAST.year, LAST.month, LAST.day, tzinfo=UTC) + timedelta(days=1)
    # Twice: materializing a day again is harmless (same keys, same values).
    materialize_day(applied, LAST, ["item_features", "user_features"])
    materialize_day(applied, LAST, ["item_features", "user_features"])
    items = pd.read_parquet(applied.home / "data" / "features" / "item_features" / f"dt={LAST}")
    users = pd.read_parquet(applied.home / "data" / "features" / "user_features" / f"dt={LAST}")
    sample = pd.DataFrame({
        "item_id": items["item_id"].sample(20, random_state=0).to_numpy(),
        "user_id": users["user_id"].sample(20, random_state=0).to_numpy(),
    })
    sample["query"] = "dresses"
    refs = ["item_features:price", "item_features:ctr_7d", "item_features:item_category",
            "user_features:user_ctr_30d", "user_features:user_median_purchase_price_30d",
            "price_to_user_median:price_to_user_median",
            "query_category_match:query_category_match"]
    online = store.get_online_features(features=refs,
                                       entity_rows=sample.to_dict("records")).to_df()
    entity = sample.assign(event_timestamp=cutoff + timedelta(hours=2))
    offline = store.get_historical_features(entity_df=entity, features=refs).to_df()
    key = ["item_id", "user_id"]
    merged = online.merge(offline, on=key, suffixes=("_on", "_off"))
    assert len(merged) == 20
    for ref in refs:
        name = ref.split(":")[1]
        pd.testing.assert_series_equal(merged[f"{name}_on"], merged[f"{name}_off"],
                                       check_names=False, check_dtype=False)
    assert merged["query_category_match_on"].isin([0, 1]).all()


def test_skew_check_passes_after_materialization_and_names_a_tampered_value(applied) -> None:
    from rankct.online.skew import check_skew

    materialize_day(applied, LAST)  # every view: the check covers all of them
    report = check_skew(applied, LAST, sample_size=25)
    assert report.passed, report.summary()
    assert report.checked > 25 * 20

    # Tamper with one item's online row: the report names the view, feature and entity.
    store = feature_store(applied)
    items = pd.read_parquet(applied.home / "data" / "features" / "item_features" / f"dt={LAST}")
    row = items.sample(1, random_state=0).copy()
    row["price"] = row["price"] + 1.0
    store.write_to_online_store("item_features", row)
    tampered = check_skew(applied, LAST, sample_size=len(items))
    assert not tampered.passed
    bad = [m for m in tampered.mismatches if m["feature"] == "price"]
    assert [m["entity"] for m in bad] == [int(row["item_id"].iloc[0])]
    assert "item_features:price item_id=" in tampered.summary()
    materialize_day(applied, LAST, ["item_features"])  # restore for other tests


def test_online_equals_offline_on_redis(applied_redis) -> None:
    from rankct.online.skew import check_skew

    materialize_day(applied_redis, LAST)
    report = check_skew(applied_redis, LAST, sample_size=25)
    assert report.passed, report.summary()
    assert report.checked > 25 * 20
    online = feature_store(applied_redis).get_online_features(
        features=["item_features:price", "price_to_user_median:price_to_user_median"],
        entity_rows=[{"item_id": 1, "user_id": 1}]).to_dict()
    assert "price_to_user_median" in online


def test_request_matrix_is_one_call_in_model_column_order(applied) -> None:
    import numpy as np
    from rankct.online.retrieval import model_columns, request_matrix

    materialize_day(applied, LAST)
    store = feature_store(applied)
    items = pd.read_parquet(applied.home / "data" / "features" / "item_features" / f"dt={LAST}")
    users = pd.read_parquet(applied.home / "data" / "features" / "user_features" / f"dt={LAST}")
    candidates = [{"item_id": int(r.item_id), "category": r.item_category, "brand": r.item_brand}
                  for r in items.head(200).itertuples()]
    user = int(users["user_id"].iloc[0])
    columns, matrix = request_matrix(store, user, candidates, query="dresses")
    assert columns == model_columns(store) and "price" in columns and "item_category" not in columns
    assert matrix.shape == (200, len(columns)) and matrix.dtype == np.float32
    price = matrix[:, columns.index("price")]
    np.testing.assert_allclose(price, items.head(200)["price"].to_numpy(), rtol=1e-6)
    match = matrix[:, columns.index("query_category_match")]
    assert set(np.unique(match)) <= {0.0, 1.0}
    assert (match == 1).sum() == (items.head(200)["item_category"] == "dresses").sum()
    with pytest.raises(RankctError, match="1 to 500 candidates"):
        request_matrix(store, user, candidates * 3)
