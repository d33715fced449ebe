"""The vocabulary shared by data gate 2 and the model gate: checks and their verdicts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

Number = float | int | None


@dataclass(frozen=True)
class Check:
    """One rule: the observed value, the threshold it was held to, and the verdict."""

    name: str
    value: Number | str
    threshold: Number | str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: NaN and infinities become None."""
        out = asdict(self)
        for key in ("value", "threshold"):
            if isinstance(out[key], float) and not math.isfinite(out[key]):
                out[key] = None
        return out


@dataclass(frozen=True)
class Verdict:
    """Every check of a gate; it passes when it ran at least one check and all of them pass."""

    checks: list[Check]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        # A verdict without checks judged nothing: it cannot pass anything.
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def reasons(self) -> list[str]:
        """One line per failed check, naming value and threshold."""
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]

    def check(self, name: str) -> Check:
        """The check called ``name`` (KeyError if the gate did not run it)."""
        for item in self.checks:
            if item.name == name:
                return item
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": self.reasons,
                "checks": [c.as_dict() for c in self.checks], **self.extra}
