"""Where monitoring checks leave their verdicts, and the one way a check fails."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from rankct.config import RankctConfig
from rankct.errors import CheckFailed
from rankct.io import write_json_atomic


def monitoring_dir(config: RankctConfig, day: date) -> Path:
    return config.home / "monitoring" / f"dt={day.isoformat()}"


def conclude(config: RankctConfig, day: date, check: str, passed: bool, detail: str,
             hint: str, **facts: Any) -> dict[str, Any]:
    """Write the check's verdict; raise :class:`CheckFailed` (after writing) when it failed."""
    summary = {"check": check, "day": day.isoformat(), "passed": passed, "detail": detail,
               **facts}
    write_json_atomic(monitoring_dir(config, day) / f"{check}.json", summary)
    if not passed:
        raise CheckFailed(f"{check} failed for {day}: {detail}", hint=hint, summary=summary)
    return summary
