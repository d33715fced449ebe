"""The simulator: determinism and the invariants the rest of rankct relies on."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rankct.contract import TABLES, partition_path, truth_path
from rankct.errors import RankctError
from rankct.simulate import simulate

from tests.conftest import START

GRADES = {"purchase": 3, "add_to_cart": 2, "favourite": 2, "click": 1}


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _read(root: Path, table: str, day_offset: int = 1) -> pd.DataFrame:
    return pd.read_parquet(partition_path(root, table, START + timedelta(days=day_offset)))


def _all(root: Path, table: str) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted((root / "raw" / table).glob("dt=*"))])


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    simulate(tmp_path / "a", days=2, scale="tiny", seed=3)
    simulate(tmp_path / "b", days=2, scale="tiny", seed=3)
    simulate(tmp_path / "c", days=2, scale="tiny", seed=4)
    a, b, c = (_digest(tmp_path / x) for x in "abc")
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_writes_every_contract_table_with_its_schema(small_market: Path) -> None:
    for name, table in TABLES.items():
        df = _read(small_market, name)
        assert list(df.columns) == table.column_names, name
    # The hidden truth sits outside raw/, where no feature job reads.
    assert truth_path(small_market, START).is_dir()
    assert not any("utility" in p.name for p in (small_market / "raw").rglob("*"))


def test_small_scale_is_about_50k_impressions_a_day(small_market: Path) -> None:
    assert 35_000 < len(_read(small_market, "impressions")) < 65_000


def test_items_sell_once_and_never_show_after_sale(small_market: Path) -> None:
    items = _all(small_market, "items")
    sold = items.dropna(subset=["sold_at"])
    assert len(sold) > 50
    assert not sold["item_id"].duplicated().any()
    purchases = _all(small_market, "events").query("event_type == 'purchase'")
    assert not purchases["item_id"].duplicated().any()
    impressions = _all(small_market, "impressions").merge(sold[["item_id", "sold_at"]], on="item_id")
    assert (impressions["served_at"] <= impressions["sold_at"]).all()


def test_new_items_and_brands_appear_every_day(small_market: Path) -> None:
    day1, day2 = _read(small_market, "items", 0), _read(small_market, "items", 1)
    listed_day2 = day2[day2["listed_at"] >= pd.Timestamp(START + timedelta(days=1), tz="UTC")]
    assert len(listed_day2) > 1000
    assert set(day2["brand"]) - set(day1["brand"])  # brands never seen on day one


def test_events_follow_their_impression_inside_the_window(small_market: Path) -> None:
    imp, ev = _read(small_market, "impressions"), _read(small_market, "events")
    joined = ev.merge(imp, on=["request_id", "user_id", "item_id"], how="left")
    assert joined["served_at"].notna().all()
    delay = joined["event_at"] - joined["served_at"]
    assert (delay > pd.Timedelta(0)).all() and (delay <= pd.Timedelta(minutes=120)).all()
    assert set(ev["event_type"]) == set(GRADES)


def _labelled(root: Path) -> pd.DataFrame:
    imp, ev = _read(root, "impressions"), _read(root, "events")
    ev["grade"] = ev["event_type"].map(GRADES)
    grade = ev.groupby(["request_id", "item_id"])["grade"].max().reset_index()
    truth = pd.read_parquet(truth_path(root, START + timedelta(days=1)))
    return (imp.merge(grade, how="left").fillna({"grade": 0})
            .merge(truth[["request_id", "item_id", "utility", "grade_if_examined"]]))


def test_click_through_falls_with_position(small_market: Path) -> None:
    df = _labelled(small_market)
    ctr = df.assign(clicked=df["grade"] > 0).groupby("position")["clicked"].mean()
    assert ctr[1] > ctr[3] > ctr[8] > ctr[15]
    assert 0.02 < df["grade"].gt(0).mean() < 0.2  # a plausible overall click-through


def _ndcg10(df: pd.DataFrame, score: str) -> float:
    values = []
    for _, g in df.groupby("request_id"):
        gains = 2.0 ** g["grade_if_examined"].to_numpy() - 1
        if gains.max() == 0:
            continue
        disc = 1 / np.log2(np.arange(2, 12))
        top = gains[np.argsort(-g[score].to_numpy(), kind="stable")][:10]
        ideal = np.sort(gains)[::-1][:10]
        values.append((top * disc[: len(top)]).sum() / (ideal * disc[: len(ideal)]).sum())
    return float(np.mean(values))


def test_true_utility_ordering_beats_the_logging_policy(small_market: Path) -> None:
    df = _labelled(small_market)
    df["logging"] = -df["position"]
    df["random"] = np.random.default_rng(0).random(len(df))
    oracle, logging, random = (_ndcg10(df, c) for c in ("utility", "logging", "random"))
    assert oracle > logging + 0.05
    assert logging > random


def test_fault_changes_only_its_own_day(tmp_path: Path) -> None:
    simulate(tmp_path / "clean", days=3, scale="tiny", seed=2)
    simulate(tmp_path / "bad", days=3, scale="tiny", seed=2, faults={"duplicate_events": "2"})
    clean, bad = _digest(tmp_path / "clean"), _digest(tmp_path / "bad")
    changed = {k for k in clean if clean[k] != bad.get(k)}
    assert changed == {"raw/events/dt=2026-11-02/part-0.parquet"}


@pytest.mark.parametrize("faults, message", [
    ({"no_such_fault": "1"}, "unknown fault"),
    ({"volume_drop": "9"}, "outside the simulated days"),
])
def test_bad_fault_requests_are_refused(tmp_path: Path, faults: dict, message: str) -> None:
    with pytest.raises(RankctError, match=message):
        simulate(tmp_path, days=2, scale="tiny", faults=faults)
