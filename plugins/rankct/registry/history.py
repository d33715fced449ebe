"""The audit log of the serving alias: every promotion and rollback, what, when, why, by whom.

MLflow keeps only where an alias points now. ``<home>/registry/<model>/alias_history.jsonl``
keeps how it got there, one JSON line per change, appended under the alias lock (so lines
never interleave and follow the order of the changes); ``rankct models --history`` prints it.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

HISTORY_FILE = "alias_history.jsonl"


class AliasAction(StrEnum):
    """What moved the alias ``champion``."""

    PROMOTE = "promote"  # a version the gate passed replaced the champion
    ROLLBACK = "rollback"  # an operator restored the previous champion


@dataclass(frozen=True)
class AliasChange:
    """One move of ``champion``: from ``previous`` to ``version``."""

    at: str  # ISO 8601, UTC
    action: AliasAction
    model: str
    version: str
    previous: str | None
    reason: str
    run: str  # the Airflow run id, or "cli" for a command an operator typed
    actor: str  # user@host of the process that moved it
    decision_sha256: str | None = None  # the decision record that allowed a promotion

    @classmethod
    def now(cls, action: AliasAction, model: str, version: str, previous: str | None,
            reason: str, run: str | None = None,
            decision_sha256: str | None = None) -> AliasChange:
        return cls(datetime.now(UTC).isoformat(timespec="seconds"), action, model, version,
                   previous, reason, run or "cli", _actor(), decision_sha256)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "action": str(self.action)}


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def append_change(state_dir: Path, change: AliasChange) -> None:
    """Append one line; a single ``write`` on an ``O_APPEND`` descriptor, then ``fsync``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(change.as_dict(), sort_keys=True) + "\n").encode()
    fd = os.open(state_dir / HISTORY_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_history(state_dir: Path) -> list[AliasChange]:
    """Every recorded change, oldest first (empty before the first promotion)."""
    path = state_dir / HISTORY_FILE
    if not path.exists():
        return []
    changes = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            changes.append(AliasChange(**{**row, "action": AliasAction(row["action"])}))
    return changes
