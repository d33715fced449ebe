"""Task defaults shared by the DAGs: owner, retries with exponential backoff, time limit and the
failure alert. Unexpected errors retry (a service restarting, a lost Spark executor); expected
ones fail at once (see :class:`rankct.airflow.operators.StageOperator`)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from rankct.airflow.callbacks import alert_on_failure
from rankct.errors import ConfigError

# The DAGs' start_date. Airflow runs no task for a logical date before it, so it is earlier than
# any interaction log: with catchup off, the scheduler still begins at the latest interval.
EARLIEST_DAY = datetime(1970, 1, 1, tzinfo=UTC)


def schedule_end(environ: dict[str, str] | None = None) -> datetime | None:
    """The DAGs' ``end_date``: the end of day ``RANKCT_SCHEDULE_END`` (ISO date), or none.

    A deployment that replays history (the stack on simulated days) sets it to the replay's
    last day: unpausing a DAG with catchup off makes the scheduler start a run for the latest
    interval, today's, which such a deployment has no data for. Backfills and runs an Asset
    event starts are not bounded by it; a live deployment leaves it unset.
    """
    value = (os.environ if environ is None else environ).get("RANKCT_SCHEDULE_END", "").strip()
    if not value:
        return None
    try:
        day = datetime.fromisoformat(value).date()
    except ValueError:
        raise ConfigError(f"RANKCT_SCHEDULE_END={value!r} is not a date",
                          hint="set it to the last day to schedule, e.g. 2026-11-14") from None
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)


def default_args(retries: int = 2, timeout: timedelta = timedelta(hours=2)) -> dict[str, Any]:
    """``default_args`` of a rankct DAG.

    ``RANKCT_RETRY_DELAY_SECONDS`` (default 120) sets the first retry's wait: `rankct run`
    sets a few seconds, since a whole loop runs attended in one process there.
    """
    delay = timedelta(seconds=int(os.environ.get("RANKCT_RETRY_DELAY_SECONDS", "120")))
    return {
        "owner": "ranking",
        "retries": retries,
        "retry_delay": delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timeout,
        "on_failure_callback": alert_on_failure,
    }
