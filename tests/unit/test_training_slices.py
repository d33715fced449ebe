"""Which days' events can label a day's impressions: the slices' key."""

from __future__ import annotations

from datetime import date, timedelta

from rankct.training_slices import event_days

D = [date(2026, 11, 1) + timedelta(days=i) for i in range(5)]


def test_the_attribution_window_reaches_into_the_next_usable_day_only() -> None:
    assert event_days(D[1], D, 120) == [D[1], D[2]]
    assert event_days(D[4], D, 120) == [D[4]]  # the newest day: its late events are to come
    # A day stopped at the data gate contributes no events: the day before it keeps its own.
    assert event_days(D[1], [D[0], D[1], D[3]], 120) == [D[1]]
    # A window of more than a day reaches further.
    assert event_days(D[0], D, 36 * 60) == [D[0], D[1], D[2]]
    assert event_days(D[0], D, 24 * 60) == [D[0], D[1]]
