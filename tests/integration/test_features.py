"""Feature jobs on a tiny hand-made marketplace whose every value is computed by hand below."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from rankct.contract import TABLES, partition_path
from rankct.features.build import build_day, build_range
from rankct.io import write_partition

from tests.jobs import load_job

pytestmark = pytest.mark.integration
D1, D2 = date(2026, 11, 1), date(2026, 11, 2)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _write(root: Path, table: str, day: date, rows: list[dict]) -> None:
    write_partition(pa.Table.from_pylist(rows, schema=TABLES[table].schema),
                    partition_path(root, table, day))


def _item(item_id, seller, category, brand, price, listed, cond, photos, updated, sold=None):
    return {"item_id": item_id, "seller_id": seller, "category": category, "brand": brand,
            "size": "M", "condition": cond, "price": price, "listed_at": ts(listed),
            "sold_at": ts(sold) if sold else None, "photo_count": photos, "updated_at": ts(updated)}


def _imp(request, user, item, position, served, surface="feed"):
    return {"request_id": request, "user_id": user, "item_id": item, "position": position,
            "surface": surface, "query": None, "served_at": ts(served)}


def _ev(request, user, item, kind, at):
    return {"request_id": request, "user_id": user, "item_id": item, "event_type": kind,
            "event_at": ts(at)}


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hand_made")
    _write(root, "items", D1, [
        _item(1, 10, "dresses", "Alpha", 20.0, "2026-10-30 00:00", "good", 3, "2026-10-30 00:00"),
        _item(2, 11, "bags", "Beta", 50.0, "2026-10-31 00:00", "new", 6, "2026-10-31 00:00")])
    _write(root, "items", D2, [
        _item(1, 10, "dresses", "Alpha", 15.0, "2026-10-30 00:00", "good", 3, "2026-11-02 00:00"),
        _item(2, 11, "bags", "Beta", 50.0, "2026-10-31 00:00", "new", 6, "2026-11-02 09:30",
              sold="2026-11-02 09:30"),
        # Planted future change, stamped after the day's end: must never be used for D2.
        _item(1, 10, "dresses", "Alpha", 5.0, "2026-10-30 00:00", "good", 3, "2026-11-03 06:00")])
    _write(root, "users", D1, [
        {"user_id": 100, "country": "FR", "signup_at": ts("2026-01-01"), "updated_at": ts("2026-01-01")},
        {"user_id": 101, "country": "DE", "signup_at": ts("2026-10-31 12:00"),
         "updated_at": ts("2026-10-31 12:00")}])
    _write(root, "users", D2, [])
    _write(root, "sellers", D1, [
        {"seller_id": 10, "country": "FR", "rating": 4.0, "updated_at": ts("2026-10-01")},
        {"seller_id": 11, "country": "FR", "rating": None, "updated_at": ts("2026-10-01")}])
    _write(root, "sellers", D2, [
        {"seller_id": 10, "country": "FR", "rating": 4.5, "updated_at": ts("2026-11-02 12:00")}])
    _write(root, "impressions", D1, [_imp("r1", 100, 1, 1, "2026-11-01 10:00"),
                                     _imp("r1", 100, 2, 2, "2026-11-01 10:00")])
    _write(root, "events", D1, [_ev("r1", 100, 1, "click", "2026-11-01 10:01"),
                                _ev("r1", 100, 1, "favourite", "2026-11-01 10:02")])
    _write(root, "impressions", D2, [_imp("r2", 100, 2, 1, "2026-11-02 09:00"),
                                     _imp("r2", 100, 1, 2, "2026-11-02 09:00"),
                                     _imp("r3", 101, 1, 1, "2026-11-02 23:50")])
    _write(root, "events", D2, [_ev("r2", 100, 2, "click", "2026-11-02 09:01"),
                                _ev("r2", 100, 2, "purchase", "2026-11-02 09:30"),
                                # Planted future event: after midnight, so not in D2's features.
                                _ev("r3", 101, 1, "click", "2026-11-03 00:10")])
    return root


@pytest.fixture(scope="module")
def features(hand_made, config, spark) -> dict[str, pd.DataFrame]:
    build_range(spark, hand_made, D1, D2, config)
    return {name: pd.read_parquet(hand_made / "features" / name / f"dt={D2}")
            for name in ("item_features", "user_features", "user_category_affinity",
                         "user_brand_affinity")}


def test_item_features_equal_hand_computed_values(features) -> None:
    items = features["item_features"].set_index("item_id")
    assert list(items.index) == [1]  # item 2 was sold during D2
    item = items.loc[1]
    assert item["price"] == 15.0  # the midnight drop, not the planted future price
    assert item["log_price"] == pytest.approx(math.log(16.0))
    assert item["age_days"] == pytest.approx(4.0)
    assert item["condition_rank"] == 1 and item["photo_count"] == 3
    assert item["seller_rating"] == 4.5 and item["seller_sales_30d"] == 0
    assert (item["impressions_1d"], item["clicks_1d"]) == (2, 0)  # r3's click is after midnight
    assert (item["impressions_7d"], item["clicks_7d"], item["favourites_7d"]) == (3, 1, 1)
    # Smoothed CTR: (clicks + 20 * window's overall rate) / (impressions + 20).
    assert item["ctr_1d"] == pytest.approx((0 + 20 * 1 / 3) / (2 + 20))
    assert item["ctr_7d"] == pytest.approx((1 + 20 * 2 / 5) / (3 + 20))
    assert item["event_timestamp"] == pd.Timestamp("2026-11-03", tz="UTC")
    # No (user, item) pair was shown at two positions, and too few rows for a click rate per
    # position: every position counts as examined, so clicks over examinations is the CTR.
    assert item["debiased_ctr_7d"] == pytest.approx(item["ctr_7d"])
    # Logged ranks: r1 first of 2 (1), r2 second of 2 (0), r3 alone (1).
    assert item["logged_rank_7d"] == pytest.approx(2 / 3)
    assert item["brand_logged_rank_30d"] == pytest.approx(2 / 3)
    assert item["log_price_to_category"] == pytest.approx(0.0)  # the only dress on sale
    assert item["item_size"] == "M"


def test_user_features_equal_hand_computed_values(features) -> None:
    users = features["user_features"].set_index("user_id")
    u100, u101 = users.loc[100], users.loc[101]
    assert (u100["user_impressions_7d"], u100["user_clicks_7d"]) == (4, 2)
    assert u100["user_ctr_7d"] == pytest.approx((2 + 20 * 2 / 5) / (4 + 20))
    assert u100["user_purchases_30d"] == 1
    assert u100["user_median_purchase_price_30d"] == 50.0
    assert u100["top_category"] == "dresses"
    assert u100["top_category_share"] == pytest.approx(2 / 3)
    assert (u101["user_impressions_7d"], u101["user_clicks_7d"]) == (1, 0)
    assert u101["days_since_signup"] == pytest.approx(2.5)
    assert pd.isna(u101["user_median_purchase_price_30d"])
    # Both of u100's clicks were on size M; u101 clicked nothing before midnight.
    assert (u100["user_top_size"], u100["user_top_size_share"]) == ("M", 1.0)
    assert pd.isna(u101["user_top_size"])
    # D1's click: 20 EUR, the dresses' median then; D2's bag sold that day (no median on sale).
    assert u100["user_click_log_price_ratio_30d"] == pytest.approx(0.0)


def test_affinities_are_shares_of_engagement(features) -> None:
    cat = features["user_category_affinity"].set_index(["user_id", "category"])
    assert cat.loc[(100, "dresses"), "user_category_affinity_30d"] == pytest.approx(2 / 3)
    assert cat.loc[(100, "bags"), "user_category_affinity_30d"] == pytest.approx(1 / 3)
    assert cat.loc[(101, "dresses"), "user_category_engaged_30d"] == 0
    brand = features["user_brand_affinity"].set_index(["user_id", "brand"])
    assert brand.loc[(100, "Beta"), "user_brand_purchases_30d"] == 1
    # The production ranker's mean logged rank of the user's items of that category / brand.
    assert cat.loc[(100, "dresses"), "user_category_logged_rank_30d"] == pytest.approx(0.5)
    assert cat.loc[(101, "dresses"), "user_category_logged_rank_30d"] == pytest.approx(1.0)
    assert brand.loc[(100, "Beta"), "user_brand_logged_rank_30d"] == pytest.approx(0.5)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_rerun_gives_identical_output(hand_made, features, config, spark) -> None:
    before = _digest(hand_made / "features")
    build_day(spark, hand_made, D2, config)
    assert _digest(hand_made / "features") == before


def test_missing_raw_partition_is_a_clear_error(hand_made, config, spark) -> None:
    from rankct.errors import DataContractError

    with pytest.raises(DataContractError, match=r"impressions partition dt=2026-11-05 is missing"):
        build_day(spark, hand_made, date(2026, 11, 5), config)


def test_spark_submit_entry_point_builds_a_day(hand_made, features, spark, capsys) -> None:
    job = load_job("build_features")
    assert job.main(["--date", str(D1), "--data-root", str(hand_made)]) == 0
    assert "built features for 2026-11-01..2026-11-01" in capsys.readouterr().out
    assert (hand_made / "features" / "item_features" / f"dt={D1}" / "_SUCCESS").exists()


def test_entry_point_reports_a_missing_day_without_traceback(hand_made, spark, capsys) -> None:
    job = load_job("build_features")
    assert job.main(["--date", "2026-12-01", "--data-root", str(hand_made)]) == 2
    err = capsys.readouterr().err
    assert "impressions partition dt=2026-12-01 is missing" in err and "Traceback" not in err


def test_training_set_joins_point_in_time_without_leaks(hand_made, features, config, spark,
                                                        tmp_path_factory) -> None:
    from rankct.online.feast_repo import feast_cli
    from rankct.training_set import training_set

    cfg = config.model_copy(deep=True)
    cfg.home = hand_made.parent / f"{hand_made.name}_home"
    (cfg.home / "data").mkdir(parents=True, exist_ok=True)
    for sub in ("raw", "features"):
        target = cfg.home / "data" / sub
        if not target.exists():
            target.symlink_to(hand_made / sub)
    feast_cli(cfg, "apply")
    frame = training_set(spark, hand_made, D2, D2, cfg).set_index(["request_id", "item_id"])
    assert len(frame) == 3
    # Served on D2, the impression sees the features as of the end of D1: the price before
    # the midnight drop and yesterday's counts only.
    assert frame.loc[("r2", 1), "price"] == 20.0
    assert frame.loc[("r2", 1), "impressions_1d"] == 1 and frame.loc[("r2", 1), "clicks_1d"] == 1
    # Labels: best event inside the window, including the click just after midnight.
    assert frame.loc[("r2", 2), "grade"] == 3
    assert frame.loc[("r2", 1), "grade"] == 0
    assert frame.loc[("r3", 1), "grade"] == 1
    # The on-demand feature is computed from the joined values.
    assert frame.loc[("r2", 1), "price_to_user_median"] == 1.0  # no purchase before D2
    assert list(frame.reset_index()["request_id"]) == ["r2", "r2", "r3"]


def test_request_sample_keeps_whole_requests_the_same_on_every_run(spark) -> None:
    from rankct.training_set import capped_share, sample_requests

    rows = spark.createDataFrame([(f"req-{i}", item) for i in range(2_000) for item in range(3)],
                                 "request_id string, item_id int")
    kept = sample_requests(rows, 0.25).toPandas()
    sizes = kept.groupby("request_id").size()
    assert (sizes == 3).all()  # a request is never cut
    assert 400 < len(sizes) < 600
    assert set(sample_requests(rows, 0.25).toPandas()["request_id"]) == set(sizes.index)
    # A smaller share keeps a subset: lowering the cap never brings in other requests.
    assert set(sample_requests(rows, 0.1).toPandas()["request_id"]) < set(sizes.index)
    assert sample_requests(rows, 1.0) is rows
    assert capped_share(200_000, 1.0, 60_000) == 0.3
    assert capped_share(50_000, 1.0, 60_000) == 1.0
    assert capped_share(200_000, 0.1, 60_000) == 0.1
    assert capped_share(200_000, 1.0, None) == 1.0
