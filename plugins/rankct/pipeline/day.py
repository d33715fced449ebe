"""Where one day's training run keeps its intermediate results, and its small JSON state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rankct.config import RankctConfig
from rankct.errors import RankctError
from rankct.io import write_json_atomic
from rankct.pipeline.outcome import Outcome


@dataclass(frozen=True)
class DayRun:
    """The folder ``<home>/runs/dt=D`` of the run for ``day``."""

    config: RankctConfig
    day: date

    @property
    def root(self) -> Path:
        return self.config.home / "runs" / f"dt={self.day.isoformat()}"

    @property
    def training_set(self) -> Path:
        return self.root / "training_set"

    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation"

    @property
    def window(self) -> tuple[date, date]:
        """The labelled days of the training set: the last ``train_window_days`` up to D."""
        return self.day - timedelta(days=self.config.pipeline.train_window_days - 1), self.day

    def write(self, stage: str, summary: dict[str, Any]) -> dict[str, Any]:
        """Record a stage's summary as ``<stage>.json``; returns it (for the caller to pass on)."""
        write_json_atomic(self.root / f"{stage}.json", summary)
        return summary

    def record_outcome(self, state: Outcome, detail: str = "", version: str | None = None,
                       **extra: Any) -> dict[str, Any]:
        """Record where the day's run ended (``outcome.json``); the failure callback keeps the
        failed task, error and log link beside it.

        Each run overwrites it as it goes, so a re-run's outcome replaces the earlier one.
        """
        try:
            state = Outcome(state)
        except ValueError:
            raise ValueError(f"unknown outcome {state!r}; expected one of "
                             f"{tuple(o.value for o in Outcome)}") from None
        return self.write("outcome", {"day": self.day.isoformat(), "state": state.value,
                                      "detail": detail, "version": version,
                                      "recorded_at": datetime.now(UTC).isoformat(), **extra})

    def outcome(self) -> dict[str, Any] | None:
        """The recorded outcome of the day's run, or None when it never ran."""
        path = self.root / "outcome.json"
        return json.loads(path.read_text()) if path.exists() else None

    def read(self, stage: str) -> dict[str, Any]:
        """The summary a stage recorded; a clear error when it has not run for this day."""
        path = self.root / f"{stage}.json"
        if not path.exists():
            raise RankctError(f"stage {stage!r} has not run for {self.day} ({path} is missing)",
                              hint=f"run the training DAG for {self.day} from its first task")
        return json.loads(path.read_text())
