"""Errors that are expected in normal operation and reported to the user without a traceback."""

from __future__ import annotations


class RankctError(Exception):
    """An expected failure: bad input, a failed gate, a missing service.

    The message says what failed and what to do about it; the CLI prints it and exits with
    ``exit_code`` instead of showing a traceback.
    """

    exit_code = 2
    # Whether trying again may succeed (a service that is down) rather than fail the same way
    # (bad input, a failed gate): orchestrators retry only these.
    retryable = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n  -> {self.hint}" if self.hint else base


class ServiceUnavailable(RankctError):
    """A service rankct depends on (a database, Redis, the MLflow server) did not answer, after
    rankct's own retries. Nothing was changed; trying again later may succeed."""

    exit_code = 4
    retryable = True


class DataContractError(RankctError):
    """Raw data does not satisfy the contract (missing partition, unreadable file, bad schema)."""


class DataGateFailed(RankctError):
    """The data gate ran and at least one check failed."""

    exit_code = 3


class ConfigError(RankctError):
    """The configuration file or an environment override is invalid."""


class StageSkipped(RankctError):
    """Nothing to do for this run (e.g. a warm-up day without enough history): not a failure.

    An orchestrator skips the stages after this one; the CLI exits 0.
    """

    exit_code = 0


class CheckFailed(RankctError):
    """A monitoring check ran and found a problem (stale data, drift, online/offline skew).

    ``summary`` is the check's full verdict (figures, report links) for whoever reports it.
    """

    exit_code = 3

    def __init__(self, message: str, *, hint: str | None = None,
                 summary: dict | None = None) -> None:
        super().__init__(message, hint=hint)
        self.summary = summary or {}
