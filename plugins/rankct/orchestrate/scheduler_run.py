"""``rankct run --profile prod``: the loop of :mod:`rankct.orchestrate.run`, driven through the
stack's scheduler instead of ``airflow dags test``.

The training DAG is unpaused and one backfill of the range is created (one run at a time,
oldest first; runs that succeeded before are kept, failed ones run again). This process only
watches: it prints each task's state as the scheduler's executor runs it, reads each day's
outcome when its run ends, then waits for the batch-scoring run that the champion Asset's
event starts, and runs monitoring for the newest day. The report is the same
:class:`~rankct.orchestrate.run.PipelineReport` the local loop makes, so the summary is too.

Running the same range again is safe: the backfill keeps the days that succeeded, no new
promotion means no new scoring run to wait for (the last one is reported), and the newest
day's monitoring run is cleared and runs again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rankct.config import RankctConfig
from rankct.errors import RankctError
from rankct.orchestrate.airflow_cli import DagRunResult, TaskRecord
from rankct.orchestrate.run import (
    MONITORING_DAG,
    SCORING_DAG,
    TRAINING_DAG,
    PipelineReport,
    Progress,
    day_outcome,
    features_built,
)
from rankct.pipeline.day import DayRun
from rankct.pipeline.outcome import Outcome
from rankct.stack.airflow_api import FINISHED, AirflowApi

# What a DAG run ends in; anything else is still on its way.
RUN_FINISHED = {"success", "failed"}


class SchedulerStalled(RankctError):
    """Nothing ran and nothing changed for too long: a scheduler or executor that is down, or
    no executor slot."""


def _iso(day: date, end_of_day: bool = False) -> str:
    return f"{day.isoformat()}T{'23:59:59' if end_of_day else '00:00:00'}Z"


def _day_of(run: dict[str, Any]) -> date:
    return date.fromisoformat(run["logical_date"][:10])


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None


class RunWatcher:
    """Follows DAG runs over the API: prints each task's state as it changes, and turns a
    finished run into a :class:`DagRunResult` (tasks and durations from the API, the log
    folder of the stack's Airflow)."""

    def __init__(self, api: AirflowApi, logs: Path, progress: Progress,
                 stall_seconds: float) -> None:
        self.api, self.logs, self.progress = api, logs, progress
        self.stall_seconds = stall_seconds
        self.seen: dict[tuple[str, str, str], str | None] = {}
        self.last_change = time.monotonic()

    def look(self, dag_id: str, run: dict[str, Any], day: date) -> list[dict[str, Any]]:
        """One look at ``run``'s tasks; a line for each task whose state changed."""
        tasks = self.api.task_instances(dag_id, run["dag_run_id"])
        for task in sorted(tasks, key=lambda t: t["start_date"] or "~"):
            key = (dag_id, run["dag_run_id"], task["task_id"])
            if task["state"] != self.seen.get(key) and task["state"] not in (None, "scheduled",
                                                                                 "queued"):
                self.seen[key] = task["state"]
                self.last_change = time.monotonic()
                attempt = f" (try {task['try_number']})" if task["try_number"] > 1 else ""
                self.progress.say(f"{day}  {dag_id}.{task['task_id']}: {task['state']}{attempt}")
        if any(task["state"] == "running" for task in tasks):
            # A long task is progress: a hung one ends at its execution_timeout, a lost one at
            # the scheduler's heartbeat timeout. A stall is nothing running and nothing moving.
            self.last_change = time.monotonic()
        return tasks

    def check_stall(self, what: str) -> None:
        if time.monotonic() - self.last_change > self.stall_seconds:
            raise SchedulerStalled(
                f"no task ran or changed state for {self.stall_seconds:.0f} s while waiting for "
                f"{what}",
                hint="rankct stack status --profile prod; see the stack's "
                     "airflow-scheduler.log and the task logs under " + str(self.logs))

    def result(self, dag_id: str, run: dict[str, Any], day: date,
               tasks: list[dict[str, Any]]) -> DagRunResult:
        began, ended = _parse(run["start_date"]), _parse(run["end_date"])
        seconds = (ended - began).total_seconds() if began and ended else 0.0
        records = [TaskRecord(t["task_id"], t["state"], t["duration"]) for t in tasks]
        log = self.logs / f"dag_id={dag_id}" / f"run_id={run['dag_run_id']}"
        state = "success" if run["state"] == "success" else "failed"
        outcome = DagRunResult(dag_id, day, run["dag_run_id"], state, seconds, log, records)
        self.progress.say(f"{day}  {dag_id}: {outcome.state} in {seconds:.0f}s"
                          + (f" (failed: {', '.join(outcome.failed_tasks)})"
                             if outcome.failed_tasks else ""))
        return outcome

    def wait(self, dag_id: str, find: Callable[[], dict[str, Any] | None], day: date,
             poll: float) -> DagRunResult:
        """Wait until the run ``find()`` returns has finished."""
        while True:
            run = find()
            tasks = self.look(dag_id, run, day) if run else []
            if run and run["state"] in RUN_FINISHED and all(t["state"] in FINISHED
                                                             for t in tasks):
                return self.result(dag_id, run, day, tasks)
            self.check_stall(f"the {dag_id} run of {day}")
            time.sleep(poll)


def check_schedule_end(api: AirflowApi, end: date) -> None:
    """Refuse a range the DAGs' ``end_date`` cuts off (the stack's ``RANKCT_SCHEDULE_END``)."""
    bound = _parse(api.dag_details(TRAINING_DAG).get("end_date"))
    if bound is not None and bound.date() < end:
        raise RankctError(f"the stack's DAGs end on {bound.date()}, before --to {end}",
                          hint=f"restart the stack with RANKCT_SCHEDULE_END={end} (rankct stack "
                               "down, then up): the scheduler runs no task after a DAG's end")


def run_on_scheduler(config: RankctConfig, api: AirflowApi, logs: Path, start: date, end: date,
                     *, progress: Progress | None = None, poll: float = 3.0,
                     stall_seconds: float = 1800.0, monitor: bool = True) -> PipelineReport:
    """Backfill ``start..end`` of the training DAG through the scheduler, then wait for the
    scoring run the champion's Asset event starts and run monitoring for the newest day.

    ``logs`` is the stack's Airflow log folder (task logs). ``stall_seconds``: how long no
    task may run or change state before the wait fails naming what it waited for.
    """
    if end < start:
        raise RankctError(f"--to {end} is before --from {start}")
    progress = progress or Progress()
    report, began = PipelineReport(start, end), time.perf_counter()
    watcher = RunWatcher(api, logs, progress, stall_seconds)
    for dag_id in (TRAINING_DAG, SCORING_DAG, MONITORING_DAG):
        api.wait_for_dag(dag_id)
    check_schedule_end(api, end)
    # Scoring unpaused first: the first promotion's Asset event then starts a run at once.
    for dag_id in (SCORING_DAG, TRAINING_DAG):
        api.set_paused(dag_id, False)
    asked = datetime.now(UTC) - timedelta(seconds=1)
    backfill = api.create_backfill(TRAINING_DAG, _iso(start), _iso(end, end_of_day=True))
    progress.say(f"backfill {backfill['id']} of {TRAINING_DAG} {start}..{end} created "
                 f"(one run at a time; the scheduler runs it)")

    def training_runs() -> dict[date, dict[str, Any]]:
        runs = api.dag_runs(TRAINING_DAG, logical_date_gte=_iso(start),
                            logical_date_lte=_iso(end, end_of_day=True))
        return {_day_of(run): run for run in runs}  # the newest run of each day wins

    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    for day in days:
        if day not in training_runs():
            continue  # a day Airflow makes no run for (none does in a daily schedule)
        result = watcher.wait(TRAINING_DAG, lambda d=day: training_runs().get(d), day, poll)
        report.days.append((result, day_outcome(config, result, progress)))
    while api.backfill(backfill["id"])["completed_at"] is None:
        watcher.check_stall(f"backfill {backfill['id']} to complete")
        time.sleep(poll)

    promoted = any(o["state"] == Outcome.PROMOTED for o in report.outcomes())
    # Runs that succeeded before are kept by the backfill (a re-run of the range): only a
    # promotion made now sends a new Asset event; otherwise the last scoring run is reported.
    promoted_now = any(
        _parse(run["start_date"]) and _parse(run["start_date"]) >= asked
        and DayRun(config, day).outcome()["state"] == Outcome.PROMOTED
        for day, run in training_runs().items())
    if promoted_now:
        report.scoring = _asset_triggered_scoring(api, watcher, asked, poll)
    elif promoted:
        report.scoring = _asset_triggered_scoring(api, watcher, None, poll)
    served = [d for d in reversed(days) if features_built(config, d)]
    if monitor and promoted and served:
        report.monitoring = _monitor(api, watcher, served[0], progress, poll)
    report.seconds = time.perf_counter() - began
    return report


def _monitor(api: AirflowApi, watcher: RunWatcher, day: date, progress: Progress,
             poll: float) -> DagRunResult:
    """The monitoring run of ``day``: created, or, when one exists (a re-run), cleared so
    that its checks run again on today's state."""
    api.set_paused(MONITORING_DAG, False)
    existing = api.dag_runs(MONITORING_DAG, logical_date_gte=_iso(day),
                            logical_date_lte=_iso(day, end_of_day=True))
    if existing:
        run_id = existing[-1]["dag_run_id"]
        api.clear_run(MONITORING_DAG, run_id)
        progress.say(f"{day}  {MONITORING_DAG}: run {run_id} cleared, its checks run again")
    else:
        run_id = api.trigger(MONITORING_DAG, _iso(day))
        progress.say(f"{day}  {MONITORING_DAG}: run {run_id} created")
    return watcher.wait(MONITORING_DAG, lambda: _run(api, MONITORING_DAG, run_id), day, poll)


def _run(api: AirflowApi, dag_id: str, run_id: str) -> dict[str, Any] | None:
    return next((r for r in api.dag_runs(dag_id) if r["dag_run_id"] == run_id), None)


def _asset_triggered_scoring(api: AirflowApi, watcher: RunWatcher, since: datetime | None,
                             poll: float) -> DagRunResult | None:
    """The last scoring run the champion Asset's events started since ``since`` (ever, when
    None), once no scoring run is queued or running (several promotions may have started
    several)."""
    while True:
        after = {"run_after_gte": since.isoformat().replace("+00:00", "Z")} if since else {}
        runs = api.dag_runs(SCORING_DAG, run_type="asset_triggered", **after)
        if not runs and since is None:
            return None  # no promotion ever started one
        if runs and all(r["state"] in RUN_FINISHED for r in runs):
            run = runs[-1]
            days = [e["extra"]["day"] for e in api.asset_events(SCORING_DAG, run["dag_run_id"])
                    if (e.get("extra") or {}).get("day")]
            day = date.fromisoformat(max(days)) if days else _parse(run["run_after"]).date()
            tasks = watcher.look(SCORING_DAG, run, day)
            return watcher.result(SCORING_DAG, run, day, tasks)
        for run in runs:
            watcher.look(SCORING_DAG, run, _parse(run["run_after"]).date())
        watcher.check_stall("the batch-scoring run the champion's Asset event starts")
        time.sleep(poll)


def attached_config(config: RankctConfig) -> tuple[RankctConfig, Any]:
    """The configuration again once the recorded stack's client variables are in the
    environment (MLflow's server and login), and the stack's settings."""
    from rankct.config import load_config
    from rankct.stack.control import attach
    from rankct.stack.settings import load_settings

    settings = attach(load_settings(config))
    return load_config(), settings


def run_on_stack(config: RankctConfig, start: date, end: date,
                 progress: Progress | None = None) -> tuple[RankctConfig, PipelineReport]:
    """:func:`run_on_scheduler` on the stack recorded for ``config`` (``rankct stack up``)."""
    from rankct.stack.airflow_api import stack_api

    config, settings = attached_config(config)
    progress = progress or Progress()
    progress.say(f"the stack under {settings.home}: Airflow {settings.airflow_url}")
    report = run_on_scheduler(config, stack_api(settings), settings.home / "airflow" / "logs",
                              start, end, progress=progress)
    return config, report
