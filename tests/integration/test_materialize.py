"""Bulk materialization writes exactly what Feast's stock materialization writes, on the wide
SQLite store and on Redis; Feast's own read path serves from the wide store what it serves from
its stock SQLite store; an older day never overwrites a newer one; a missing partition or an
unapplied repository fails clearly."""

from __future__ import annotations

import sqlite3

import pytest
from rankct.errors import RankctError
from rankct.online.feast_repo import feature_store
from rankct.online.materialize import BATCH_VIEWS, materialize_day

from tests.conftest import START
from tests.integration.conftest import LAST

pytestmark = pytest.mark.integration


def _sqlite_rows(cfg) -> dict[str, list[tuple]]:
    """Every online row of every batch view, in a canonical order."""
    from rankct.online.sqlite_store import table_name

    store = feature_store(cfg)
    with sqlite3.connect(cfg.home / "feast" / "online.db") as conn:
        return {view: conn.execute(
            f'SELECT entity_key, event_ts, created_ts, features FROM '
            f'"{table_name(store.config, store.get_feature_view(view))}" '
            "ORDER BY entity_key").fetchall() for view in BATCH_VIEWS}


def _clear_sqlite(cfg) -> None:
    from rankct.online.sqlite_store import table_name

    store = feature_store(cfg)
    with sqlite3.connect(cfg.home / "feast" / "online.db") as conn:
        for view in BATCH_VIEWS:
            conn.execute(f'DELETE FROM "{table_name(store.config, store.get_feature_view(view))}"')


def test_bulk_writes_the_same_sqlite_rows_as_feast(applied) -> None:
    _clear_sqlite(applied)
    stock_stats = materialize_day(applied, LAST, stock=True)
    stock = _sqlite_rows(applied)
    _clear_sqlite(applied)
    bulk_stats = materialize_day(applied, LAST)
    bulk = _sqlite_rows(applied)
    for view in BATCH_VIEWS:
        assert len(bulk[view]) > 0, view
        assert bulk[view] == stock[view], f"{view}: bulk rows differ from Feast's"
    assert [s.rows for s in bulk_stats] == [s.rows for s in stock_stats]
    # Twice: a re-run writes the same bytes.
    materialize_day(applied, LAST)
    assert _sqlite_rows(applied) == bulk


def _vanilla_store(cfg, folder):
    """A FeatureStore over the same registry and offline tables whose online store is Feast's
    own SQLite store (one row per feature value), its tables created."""
    import yaml
    from feast import FeatureStore
    from feast.infra.online_stores.sqlite import SqliteOnlineStore
    from rankct.online.feast_repo import FEATURE_REPO, store_settings

    settings = store_settings(cfg)  # the registry of the test state, as the yaml names it
    settings["online_store"] = {"type": "sqlite", "path": str(folder / "vanilla.db")}
    path = folder / "feature_store.yaml"
    path.write_text(yaml.safe_dump(settings))
    store = FeatureStore(repo_path=str(FEATURE_REPO), fs_yaml_file=path)
    SqliteOnlineStore().update(store.config, [], store.list_feature_views(), [], [], partial=False)
    return store


def test_feast_serves_the_same_from_the_wide_store_as_from_its_own(applied, tmp_path) -> None:
    import pandas as pd
    from rankct.features.build import FEATURE_TABLES, as_of

    vanilla = _vanilla_store(applied, tmp_path)
    cutoff = as_of(LAST)
    vanilla.materialize(start_date=cutoff - pd.Timedelta(hours=12),
                        end_date=cutoff + pd.Timedelta(hours=12), feature_views=BATCH_VIEWS)
    materialize_day(applied, LAST)
    wide = feature_store(applied)
    for view, keys in FEATURE_TABLES.items():
        table = pd.read_parquet(applied.home / "data" / "features" / view / f"dt={LAST}")
        rows = table[keys].sample(min(len(table), 200), random_state=2).to_dict("records")
        rows.append({k: (-1 if k.endswith("_id") else "absent") for k in keys})  # not stored
        features = [f"{view}:{c}" for c in table.columns if c not in (*keys, "event_timestamp")]
        expected = vanilla.get_online_features(features=features, entity_rows=rows).to_dict()
        served = wide.get_online_features(features=features, entity_rows=rows).to_dict()
        assert served == expected, view
        first = features[0].split(":")[1]
        assert served[first][-1] is None and served[first][:-1].count(None) < len(rows) // 2


def test_a_partial_write_keeps_the_other_features(applied) -> None:
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value
    from rankct.features.build import as_of
    from rankct.online.sqlite_store import WideSqliteOnlineStore

    materialize_day(applied, LAST, ["item_features"])
    store = feature_store(applied)
    refs = ["item_features:price", "item_features:ctr_7d", "item_features:item_category"]
    before = store.get_online_features(features=refs, entity_rows=[{"item_id": 1}]).to_dict()
    key = EntityKey(join_keys=["item_id"], entity_values=[Value(int64_val=1)])
    WideSqliteOnlineStore().online_write_batch(
        store.config, store.get_feature_view("item_features"),
        [(key, {"price": Value(double_val=1234.5)}, as_of(LAST), None)], None)
    after = store.get_online_features(features=refs, entity_rows=[{"item_id": 1}]).to_dict()
    assert after == {**before, "price": [1234.5]}
    materialize_day(applied, LAST, ["item_features"])  # restore for other tests


def test_an_older_day_never_overwrites_a_newer_one(applied) -> None:
    import pandas as pd

    materialize_day(applied, LAST, ["item_features"])
    newer = _sqlite_rows(applied)["item_features"]
    materialize_day(applied, START, ["item_features"])
    assert set(newer) <= set(_sqlite_rows(applied)["item_features"])
    # Feast's read path serves LAST's values for an item present on both days.
    items = pd.read_parquet(applied.home / "data" / "features" / "item_features" / f"dt={LAST}")
    row = items.iloc[0]
    online = feature_store(applied).get_online_features(
        features=["item_features:price", "item_features:impressions_1d"],
        entity_rows=[{"item_id": int(row["item_id"])}]).to_dict()
    assert online["price"] == [row["price"]]
    assert online["impressions_1d"] == [row["impressions_1d"]]


def test_skew_check_covers_the_affinity_views(applied) -> None:
    import pandas as pd
    from rankct.online.skew import check_skew

    materialize_day(applied, LAST)
    report = check_skew(applied, LAST, sample_size=30)
    assert report.passed, report.summary()
    store = feature_store(applied)
    table = applied.home / "data" / "features" / "user_brand_affinity" / f"dt={LAST}"
    row = pd.read_parquet(table).sample(1, random_state=1)
    row["user_brand_engaged_30d"] = row["user_brand_engaged_30d"] + 5
    store.write_to_online_store("user_brand_affinity", row)
    tampered = check_skew(applied, LAST, sample_size=100_000)
    bad = [m for m in tampered.mismatches if m["view"] == "user_brand_affinity"]
    user, brand = int(row["user_id"].iloc[0]), row["brand"].iloc[0]
    assert [(m["feature"], m["entity"]) for m in bad] == [("user_brand_engaged_30d", (user, brand))]
    assert f"user_id={user} brand={brand}" in tampered.summary()
    materialize_day(applied, LAST, ["user_brand_affinity"])  # restore for other tests


def test_missing_partition_and_unapplied_repository_fail_clearly(applied, tmp_path) -> None:
    with pytest.raises(RankctError, match="item_features.*dt=2027-01-01.*missing") as missing:
        materialize_day(applied, START.replace(year=2027, month=1, day=1), ["item_features"])
    assert "rankct features build" in str(missing.value)
    bare = applied.model_copy(deep=True)
    bare.home = tmp_path / "never_applied"
    (bare.home / "data").mkdir(parents=True)
    (bare.home / "data" / "features").symlink_to(applied.home / "data" / "features")
    with pytest.raises(RankctError, match="rankct features apply"):
        materialize_day(bare, LAST, ["item_features"])


def _redis_snapshot(client) -> dict[bytes, dict[bytes, bytes]]:
    return {key: client.hgetall(key) for key in client.scan_iter(count=10_000)}


def test_bulk_writes_the_same_redis_hashes_as_feast(applied_redis) -> None:
    import redis
    from rankct.online.skew import check_skew

    store = feature_store(applied_redis)
    host, _, rest = store.config.online_store.connection_string.partition(":")
    port, _, db = rest.partition(",db=")
    client = redis.Redis(host=host, port=int(port), db=int(db or 0))
    client.flushdb()
    materialize_day(applied_redis, LAST, stock=True)
    stock = _redis_snapshot(client)
    client.flushdb()
    materialize_day(applied_redis, LAST)
    bulk = _redis_snapshot(client)
    assert len(bulk) > 100
    assert bulk == stock
    # An older day adds the entities it alone has and changes none of the newer ones.
    materialize_day(applied_redis, START)
    replayed = _redis_snapshot(client)
    assert {key: replayed[key] for key in bulk} == bulk
    materialize_day(applied_redis, LAST)
    report = check_skew(applied_redis, LAST, sample_size=25)
    assert report.passed, report.summary()


def test_an_online_store_that_does_not_answer_is_an_outage(applied_redis, monkeypatch) -> None:
    """Redis on a closed port: retried, then a ServiceUnavailable naming it (Airflow retries the
    task again); not a raw driver error, not a "bad input" that would never be retried."""
    from rankct.errors import ServiceUnavailable
    from rankct.pipeline import prepare

    from tests.e2e.conftest import free_port

    monkeypatch.setenv("RANKCT_REDIS", f"127.0.0.1:{free_port()},db=7")
    with pytest.raises(ServiceUnavailable, match="materializing 2026-11-01 into the prod "
                                                 "online store failed 3 time") as raised:
        prepare.materialize(applied_redis, START)
    assert raised.value.retryable and "ConnectionError" in str(raised.value)
