"""What happens when a task fails for good (after its retries): an alert, and for the
training DAG the day's outcome, so ``rankct status`` and the run summary say where it stopped."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from rankct.pipeline.outcome import DELIBERATE_STOPS, Outcome

log = logging.getLogger(__name__)


def alert_on_failure(context: dict[str, Any]) -> None:
    """``on_failure_callback`` of every rankct task: raise an alert naming the DAG, task, day
    and error with a link to the task's log; never raises itself."""
    try:
        _alert(context)
    except Exception:  # a broken callback must not hide the task's own failure
        log.exception("rankct failure callback could not raise its alert")


def _alert(context: dict[str, Any]) -> None:
    from rankct.airflow.runtime import run_config, run_day
    from rankct.alerts import Alert, raise_alert
    from rankct.config import load_config
    from rankct.pipeline.day import DayRun

    ti = context["ti"]
    try:
        config = run_config(context)
    except Exception:  # noqa: BLE001 - invalid params: alert with the plain profile
        config = load_config()
    try:
        day = run_day(context)
    except Exception:  # noqa: BLE001
        day = None
    from rankct.airflow.operators import FAILURE_KEY

    error = context.get("exception") or context.get(FAILURE_KEY)
    message = str(error) if error else "the task failed (see its log)"
    base = config.ui.airflow_url.rstrip("/")
    log_url = (f"{base}/dags/{ti.dag_id}/runs/{quote(ti.run_id, safe='')}/tasks/"
               f"{ti.task_id}")
    raise_alert(config, Alert(source=f"{ti.dag_id}.{ti.task_id}", message=message,
                              day=day.isoformat() if day else None, links={"log": log_url}))
    if day is not None and ti.dag_id == "ranker_continuous_training":
        run = DayRun(config, day)
        current = run.outcome()
        # A stage that ended the run on purpose recorded why: keep it.
        if current is None or current["state"] not in DELIBERATE_STOPS:
            run.record_outcome(Outcome.FAILED, f"{ti.task_id}: {message.splitlines()[0]}",
                               task=ti.task_id, log=log_url)
