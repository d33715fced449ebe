"""Online/offline consistency as a monitoring check: the online store serves, for a sample of
every view's entities, the values of the newest offline partition it was materialized from."""

from __future__ import annotations

from datetime import date
from typing import Any

from rankct.config import RankctConfig
from rankct.monitoring.record import conclude


def online_offline_skew(config: RankctConfig, day: date) -> dict[str, Any]:
    """:func:`rankct.online.skew.check_skew` on ``day``; fails naming view, feature and entity."""
    from rankct.online.skew import check_skew

    report = check_skew(config, day, sample_size=config.monitoring.skew_sample_entities)
    lines = report.summary().splitlines()
    return conclude(config, day, "online_offline_skew", report.passed,
                    lines[0] + ("" if report.passed else ": " + "; ".join(
                        line.strip() for line in lines[1:6])),
                    hint="re-materialize the day (`rankct features materialize --date D`); if "
                         "it persists the online store is written by something else",
                    checked=report.checked, mismatches=report.mismatches[:50],
                    missing=report.missing[:50])
