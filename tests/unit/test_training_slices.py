"""Which days' events can label a day's impressions (the slices' key), and a slice graded
again without its features joined again."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
from rankct.training_slices import event_days, regraded

D = [date(2026, 11, 1) + timedelta(days=i) for i in range(5)]


def test_the_attribution_window_reaches_into_the_next_usable_day_only() -> None:
    assert event_days(D[1], D, 120) == [D[1], D[2]]
    assert event_days(D[4], D, 120) == [D[4]]  # the newest day: its late events are to come
    # A day stopped at the data gate contributes no events: the day before it keeps its own.
    assert event_days(D[1], [D[0], D[1], D[3]], 120) == [D[1]]
    # A window of more than a day reaches further.
    assert event_days(D[0], D, 36 * 60) == [D[0], D[1], D[2]]
    assert event_days(D[0], D, 24 * 60) == [D[0], D[1]]


def test_a_slice_is_graded_again_in_its_own_row_order() -> None:
    rows = pa.table({"request_id": ["r1", "r1", "r2"], "item_id": ["a", "b", "a"],
                     "grade": pa.array([0, 0, 1], pa.int32()), "ctr": [0.1, 0.2, 0.3]})
    # As Spark hands them over: another order, strings as large_string, grades as int64.
    grades = pa.table({"request_id": pa.array(["r2", "r1", "r1"], pa.large_string()),
                       "item_id": pa.array(["a", "b", "a"], pa.large_string()),
                       "grade": [0, 3, 1]})
    graded = regraded(rows, grades)
    assert graded.schema == rows.schema
    assert graded.column("grade").to_pylist() == [1, 3, 0]
    assert graded.drop_columns(["grade"]).equals(rows.drop_columns(["grade"]))


def test_grades_that_do_not_name_each_row_once_are_refused() -> None:
    rows = pa.table({"request_id": ["r1", "r1"], "item_id": ["a", "b"], "grade": [0, 0]})
    # One impression missing and another twice: as many rows, not the same ones.
    twice = pa.table({"request_id": ["r1", "r1"], "item_id": ["a", "a"], "grade": [1, 2]})
    assert regraded(rows, twice) is None
    assert regraded(rows, twice.slice(0, 1)) is None
    other = pa.table({"request_id": ["r1", "r9"], "item_id": ["a", "b"], "grade": [1, 2]})
    assert regraded(rows, other) is None
