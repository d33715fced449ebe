"""The point-in-time join's own rules on small tables: which partitions it reads, and which row
each entity row gets (tests/integration/test_point_in_time.py compares it with Feast's)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rankct.errors import RankctError
from rankct.online.point_in_time import DailyView, point_in_time_join

TTL = timedelta(days=3)
TIMESTAMP = pa.timestamp("us", tz="UTC")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _view(root, name="item_features", keys=("item_id",)) -> DailyView:
    return DailyView(name=name, path=root / name, keys=keys, features=("ctr",),
                     timestamp_field="event_timestamp", ttl=TTL)


def _partition(view: DailyView, day: date, rows: dict[int, float]) -> None:
    """Partition dt=day: one row per item, stamped at the end of the day, as the build does."""
    path = view.path / f"dt={day.isoformat()}"
    path.mkdir(parents=True)
    stamp = _midnight(day + timedelta(days=1))
    pq.write_table(pa.table({"item_id": pa.array(list(rows), pa.int64()),
                             "event_timestamp": pa.array([stamp] * len(rows), TIMESTAMP),
                             "ctr": pa.array(list(rows.values()), pa.float64())}),
                   path / "part-0.parquet")
    (path / "_SUCCESS").touch()


def test_the_partitions_read_reach_back_over_the_ttl_and_one_day(tmp_path) -> None:
    view = _view(tmp_path)
    days = [date(2026, 3, 1) + timedelta(days=i) for i in range(12)]
    for day in days:
        (view.path / f"dt={day.isoformat()}").mkdir(parents=True)
    (view.path / "dt=not-a-day").mkdir()
    chosen = view.partitions(date(2026, 3, 8), date(2026, 3, 9))
    # An impression at 03-08 00:00 sharp may see the row stamped 03-05 00:00 (dt=03-04).
    assert [p.name for p in chosen] == [f"dt=2026-03-0{d}" for d in range(4, 10)]


def test_each_row_gets_the_newest_row_within_the_ttl(tmp_path) -> None:
    view = _view(tmp_path)
    _partition(view, date(2026, 3, 1), {1: 0.1, 2: 0.2})  # valid from 03-02 00:00
    _partition(view, date(2026, 3, 2), {1: 0.11})          # valid from 03-03 00:00
    _partition(view, date(2026, 3, 9), {1: 0.9})           # out of reach, in the future
    tick = timedelta(microseconds=1)
    served = [
        (1, _midnight(date(2026, 3, 2)) - tick),       # before any stamp
        (1, _midnight(date(2026, 3, 2))),              # at the first stamp
        (1, _midnight(date(2026, 3, 4))),              # the newest of two
        (2, _midnight(date(2026, 3, 5))),              # the TTL's end, inclusive
        (2, _midnight(date(2026, 3, 5)) + tick),       # a microsecond after it
        (3, _midnight(date(2026, 3, 4))),              # a key no partition holds
        (None, _midnight(date(2026, 3, 4))),           # no key
    ]
    entity = pa.table({"request": pa.array(range(len(served)), pa.int64()),
                       "item_id": pa.array([k for k, _ in served], pa.int64()),
                       "event_timestamp": pa.array([t for _, t in served], TIMESTAMP)})
    # Rows out of time order: the result keeps the entity's order.
    entity = entity.take([3, 0, 6, 2, 5, 1, 4])
    joined = point_in_time_join(entity, [view])
    assert joined.column_names == ["request", "item_id", "event_timestamp", "ctr"]
    assert joined.column("request").to_pylist() == [3, 0, 6, 2, 5, 1, 4]
    expected = {0: None, 1: 0.1, 2: 0.11, 3: 0.2, 4: None, 5: None, 6: None}
    assert dict(zip(joined.column("request").to_pylist(), joined.column("ctr").to_pylist(),
                    strict=True)) == expected


def test_a_table_without_partitions_is_a_clear_error(tmp_path) -> None:
    view = _view(tmp_path)
    view.path.mkdir()
    entity = pa.table({"item_id": pa.array([1], pa.int64()),
                       "event_timestamp": pa.array([_midnight(date(2026, 3, 4))], TIMESTAMP)})
    with pytest.raises(RankctError, match="no partition"):
        point_in_time_join(entity, [view])
