"""Outcome of data-gate checks: one record per rule, with what was seen and what was allowed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# What to do when a rule fails: the last line of the message a user reads.
ADVICE = {
    "partition_exists": "check that the upstream export for this day ran; re-run ingest or simulate",
    "partition_complete": "the writer did not finish (no _SUCCESS marker, or in BigQuery no load "
                          "record); re-run the export or `rankct bq load`",
    "readable": "the file is corrupt or empty; re-export the partition",
    "schema_column": "rename the column at the source or map it in the ingest mapping file",
    "schema_type": "cast the column at the source or set its format in the ingest mapping file",
    "not_empty": "the partition has no rows; check the upstream export for this day",
    "null_rate": "fill or drop the rows with missing values upstream, or raise the threshold",
    "unique_key": "deduplicate the rows upstream (the logger may have retried)",
    "allowed_values": "map the values to the contract's vocabulary in the ingest mapping file",
    "partition_date": "rows belong to another day; repartition by the timestamp column",
    "known_items": "impressions point at items missing from the items change log; export items",
    "known_users": "impressions point at users missing from the users change log; export users",
    "event_matches_impression": "events must attribute to an impression of the same day",
    "event_after_impression": "event timestamps precede their impression: check clock and timezone",
    "event_in_window": "events fall outside the attribution window: check the join upstream",
    "shown_after_sale": "sold items were still served: check the serving filter or sold_at",
    "volume_band": "the day's volume is far from the trailing days: check for a partial export",
}


@dataclass
class CheckResult:
    """One rule applied to one table (and column) of one partition."""

    table: str
    rule: str
    partition: str
    passed: bool
    column: str | None = None
    observed: Any = None
    threshold: Any = None
    detail: str = ""
    skipped: bool = False

    @property
    def message(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        state = "skipped" if self.skipped else ("ok" if self.passed else "FAILED")
        text = f"[{state}] {where} {self.partition} rule={self.rule}"
        if self.observed is not None:
            text += f" observed={_fmt(self.observed)}"
        if self.threshold is not None:
            text += f" threshold={_fmt(self.threshold)}"
        if self.detail:
            text += f": {self.detail}"
        if not self.passed and not self.skipped and self.rule in ADVICE:
            text += f"\n      what to do: {ADVICE[self.rule]}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@dataclass
class ValidationResult:
    """All checks of one day; ``passed`` only when no check failed."""

    date: str
    data_root: str
    checks: list[CheckResult] = field(default_factory=list)
    report_html: str | None = None
    report_json: str | None = None
    result_json: str | None = None
    # The BigQuery engine's query job ids (for links to them); not part of result.json, which is
    # the same for both engines.
    jobs: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed or c.skipped for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not (c.passed or c.skipped)]

    def add(self, check: CheckResult) -> CheckResult:
        self.checks.append(check)
        return check

    def summary(self) -> str:
        """A short text for logs and the CLI: the verdict, then every failed rule."""
        head = (f"data gate for dt={self.date}: {'PASSED' if self.passed else 'FAILED'} "
                f"({len(self.checks)} checks, {len(self.failures)} failed)")
        return "\n".join([head, *(f"  {c.message}" for c in self.failures)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date, "data_root": self.data_root, "passed": self.passed,
            "failed": [c.to_dict() for c in self.failures],
            "checks": [c.to_dict() for c in self.checks],
            "report_html": self.report_html, "report_json": self.report_json,
        }
