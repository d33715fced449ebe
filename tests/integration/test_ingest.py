"""Bring your own data: a round trip through a foreign export format and back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from rankct.contract import TABLES
from rankct.errors import DataContractError, RankctError
from rankct.ingest import ingest

from tests.conftest import START

pytestmark = pytest.mark.integration
EVENT_NAMES = {"click": "CLK", "favourite": "FAV", "add_to_cart": "CART", "purchase": "BUY"}
RENAMES = {
    "impressions": {"request_id": "search_id", "user_id": "visitor", "item_id": "listing",
                    "position": "rank", "served_at": "ts"},
    "events": {"request_id": "search_id", "item_id": "listing", "event_type": "action",
               "event_at": "ts"},
}


def _table(root: Path, table: str, days: int) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(root / "raw" / table / f"dt={START + timedelta(days=d)}")
                      for d in range(days)], ignore_index=True)


def _export(source: Path, out: Path, days: int) -> tuple[Path, list[Path]]:
    """Write the source tables as a foreign system would: renamed columns, epoch milliseconds,
    its own event names, CSV for the logs and parquet for the dimensions."""
    files = []
    for table in ("impressions", "events"):
        df = _table(source, table, days)
        if table == "impressions":
            df["served_at"] = df["served_at"].astype("int64")  # epoch microseconds
        else:
            df["event_at"] = df["event_at"].astype("int64") // 1000  # epoch milliseconds
        if table == "events":
            df["event_type"] = df["event_type"].map(EVENT_NAMES)
        df = df.rename(columns=RENAMES[table])
        files.append(out / f"{table}_export.csv")
        df.to_csv(files[-1], index=False)
    for table in ("items", "users", "sellers"):
        files.append(out / f"{table}_export.parquet")
        _table(source, table, days).to_parquet(files[-1], index=False)
    mapping = {
        "timezone": "UTC",
        "tables": {
            "impressions": {"files": "impressions_*", "columns": RENAMES["impressions"],
                            "timestamp_format": {"served_at": "epoch_us"}},
            "events": {"files": "events_*", "columns": RENAMES["events"],
                       "timestamp_format": {"event_at": "epoch_ms"},
                       "values": {"event_type": {v: k for k, v in EVENT_NAMES.items()}},
                       "defaults": {"user_id": -1}},
            "items": {"files": "items_*"}, "users": {"files": "users_*"},
            "sellers": {"files": "sellers_*"},
        },
    }
    path = out / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path, files


def test_round_trip_through_a_foreign_export(tiny_market, config, spark, tmp_path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    days = 3
    mapping, files = _export(tiny_market, export, days)
    events_no_user = pd.read_csv(files[1]).drop(columns=["user_id"])
    events_no_user.to_csv(files[1], index=False)  # the export lacks user ids: default fills them
    out = tmp_path / "ingested"
    outcome = ingest(mapping, files, out, config, reports_dir=tmp_path / "reports")
    assert outcome.partitions["impressions"] == [START + timedelta(days=d) for d in range(days)]
    for table in ("impressions", "items", "users", "sellers"):
        original = _table(tiny_market, table, days)
        # Change logs are partitioned by updated_at: the first day's snapshot spreads back in time.
        back = pd.concat([pd.read_parquet(p) for p in (out / "raw" / table).glob("dt=*")],
                         ignore_index=True)[TABLES[table].column_names]
        key = list(TABLES[table].key)
        pd.testing.assert_frame_equal(
            original.sort_values(key).reset_index(drop=True),
            back.sort_values(key).reset_index(drop=True), check_dtype=False)
    events = _table(out, "events", days)
    original = _table(tiny_market, "events", days)
    assert sorted(events["event_at"]) == sorted(original["event_at"].dt.floor("ms"))
    assert (events["user_id"] == -1).all()
    assert sorted(events["event_type"].unique()) == sorted(EVENT_NAMES)
    assert len(events) == len(_table(tiny_market, "events", days))
    # user_id defaulted to -1 is not a known user, but events do not check users: all pass.
    assert all(r.passed for r in outcome.validations), [r.summary() for r in outcome.validations]


def test_missing_column_is_named(tiny_market, config, spark, tmp_path) -> None:
    csv = tmp_path / "impressions_bad.csv"
    _table(tiny_market, "impressions", 1).drop(columns=["surface"]).to_csv(csv, index=False)
    mapping = tmp_path / "m.yaml"
    mapping.write_text(yaml.safe_dump({"tables": {"impressions": {"files": "impressions_*"}}}))
    with pytest.raises(DataContractError, match="column 'surface' for impressions.surface"):
        ingest(mapping, [csv], tmp_path / "out", config, validate=False)


@pytest.mark.parametrize("content", [b"", b"PAR1 this is not parquet"])
def test_corrupt_or_empty_parquet_input_is_a_clear_error(content, config, spark, tmp_path) -> None:
    bad = tmp_path / "items_bad.parquet"
    bad.write_bytes(content)
    mapping = tmp_path / "m.yaml"
    mapping.write_text(yaml.safe_dump({"tables": {"items": {"files": "items_*"}}}))
    with pytest.raises(DataContractError, match="items_bad.parquet"):
        ingest(mapping, [bad], tmp_path / "out", config, validate=False)


def test_mapping_with_unknown_column_is_refused(config, tmp_path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(yaml.safe_dump({"tables": {"events": {"files": "*",
                                                             "columns": {"evt": "x"}}}}))
    with pytest.raises(RankctError, match=r"events.columns names \['evt'\]"):
        ingest(mapping, [tmp_path / "x.csv"], tmp_path / "out", config)


def test_ingest_counts_the_rows_it_wrote(tiny_market, config, spark, tmp_path) -> None:
    csv = tmp_path / "impressions_day.csv"
    source = _table(tiny_market, "impressions", 1)
    source.to_csv(csv, index=False)
    mapping = tmp_path / "m.yaml"
    mapping.write_text(yaml.safe_dump({"tables": {"impressions": {"files": "impressions_*"}}}))
    outcome = ingest(mapping, [csv], tmp_path / "out", config, validate=False)
    assert outcome.rows["impressions"] == len(source)
