"""The end-to-end run behind ``make run`` and ``rankct run``: the training DAG for every day of
a range through ``airflow dags test`` (one DAG run per day, real tasks, state in Airflow's
metadata database), then the batch-scoring and monitoring DAGs for the newest day that has
features. Progress goes to stderr as it happens: which day, which task, elapsed time.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rankct.config import RankctConfig
from rankct.contract import SUCCESS_MARKER
from rankct.errors import RankctError
from rankct.orchestrate.airflow_cli import DagRunResult, dags_test_runs, migrate
from rankct.orchestrate.environment import airflow_environment, airflow_home
from rankct.pipeline.day import DayRun
from rankct.pipeline.outcome import Outcome
from rankct.spark_connect import connect_server, remote_environment

TRAINING_DAG = "ranker_continuous_training"
SCORING_DAG = "ranker_batch_scoring"
MONITORING_DAG = "ranker_monitoring"


class Progress:
    """``[  12.3s] 2026-11-05  train`` lines on stderr."""

    def __init__(self, stream: Any = None) -> None:
        self.started = time.perf_counter()
        self.stream = stream or sys.stderr

    def say(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:7.1f}s] {text}", file=self.stream,
              flush=True)


@dataclass
class PipelineReport:
    """What a run did: the training DAG run of each day with its outcome, then scoring and
    monitoring, and the wall time of it all."""

    start: date
    end: date
    days: list[tuple[DagRunResult, dict[str, Any]]] = field(default_factory=list)
    scoring: DagRunResult | None = None
    monitoring: DagRunResult | None = None
    seconds: float = 0.0

    def outcomes(self) -> list[dict[str, Any]]:
        return [outcome for _, outcome in self.days]


def features_built(config: RankctConfig, day: date) -> bool:
    from rankct.features.build import FeaturePaths

    return (FeaturePaths(config.data_root).table("item_features", day) / SUCCESS_MARKER).exists()


def run_pipeline(config: RankctConfig, start: date, end: date, *,
                 extra_env: dict[str, str] | None = None, score: bool = True,
                 monitor: bool = True, progress: Progress | None = None) -> PipelineReport:
    """Run the training DAG for each day of ``start..end``, then scoring and monitoring.

    ``extra_env`` reaches every Airflow process (e.g. ``RANKCT__GATE__MIN_NDCG=0.2``): the
    tasks load their configuration themselves, from the profile and the environment.
    """
    if end < start:
        raise RankctError(f"--to {end} is before --from {start}")
    progress = progress or Progress()
    # A retry waits seconds here, not minutes: the whole loop runs attended, in order.
    env = airflow_environment(config, {"RANKCT_RETRY_DELAY_SECONDS": "10", **os.environ,
                                       **(extra_env or {})})
    logs = airflow_home(config) / "dags_test_logs"
    progress.say(f"Airflow metadata: {env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']}")
    migrate(env, logs / "db_migrate.log")
    report = PipelineReport(start, end)
    began = time.perf_counter()
    # One Spark for every task and job of the run (the profile's server, or one started here),
    # and one Airflow process for all the training days, then one for scoring and monitoring.
    with connect_server(config, logs / "spark_connect.log") as spark_url:
        progress.say(f"Spark: {spark_url}")
        env = {**env, **remote_environment(spark_url)}
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        _runs([(TRAINING_DAG, day) for day in days], env, logs, progress,
              on_result=lambda r: report.days.append((r, day_outcome(config, r, progress))))
        served = [d for d in reversed(days) if features_built(config, d)]
        target = served[0] if served else None
        champion = any(outcome["state"] == Outcome.PROMOTED for outcome in report.outcomes())
        after = [dag for dag, wanted in ((SCORING_DAG, score), (MONITORING_DAG, monitor))
                 if wanted and target and champion]
        for result in _runs([(dag, target) for dag in after], env, logs, progress):
            if result.dag_id == SCORING_DAG:
                report.scoring = result
            else:
                report.monitoring = result
    report.seconds = time.perf_counter() - began
    return report


def _runs(runs: list[tuple[str, date]], env: dict[str, str], logs: Path, progress: Progress,
          on_result: Callable[[DagRunResult], None] | None = None) -> list[DagRunResult]:
    """The DAG runs ``runs`` in one Airflow process, with progress lines as they go."""
    if not runs:
        return []
    current: list[tuple[str, date]] = []

    def started(dag_id: str, day: date) -> None:
        current[:] = [(dag_id, day)]
        progress.say(f"{day}  {dag_id}")

    def task(task_id: str) -> None:
        dag_id, day = current[0]
        progress.say(f"{day}  {dag_id}.{task_id}")

    def finished(result: DagRunResult) -> None:
        progress.say(f"{result.day}  {result.dag_id}: {result.state} in {result.seconds:.0f}s"
                     + (f" (failed: {', '.join(result.failed_tasks)})" if result.failed_tasks
                        else "") + (" (no task ran)" if result.ran_nothing else ""))
        if on_result:
            on_result(result)

    return dags_test_runs(runs, env, logs, on_start=started, on_task=task, on_result=finished)


def day_outcome(config: RankctConfig, result: DagRunResult,
                progress: Progress | None = None) -> dict[str, Any]:
    """Where the training run of ``result.day`` ended: its recorded outcome, or a failure that
    names why (a failed task, no task run at all)."""
    day = result.day
    outcome = DayRun(config, day).outcome() or {"day": day.isoformat(), "state": Outcome.FAILED,
                                                "detail": f"no outcome recorded; see {result.log}"}
    if result.ran_nothing:
        outcome = {"day": day.isoformat(), "state": Outcome.FAILED,
                   "detail": f"no task of {TRAINING_DAG} ran for {day} (run {result.run_id}); "
                             f"see {result.log}"}
    elif result.state == "failed" and outcome["state"] in (Outcome.RUNNING, Outcome.PASSED):
        outcome = {**outcome, "state": Outcome.FAILED,
                   "detail": f"tasks {', '.join(result.failed_tasks)} failed; see {result.log}"}
    if progress:
        progress.say(f"{day}  outcome: {outcome['state']}"
                     + (f" v{outcome['version']}" if outcome.get("version") else "")
                     + (f" - {outcome['detail']}" if outcome.get("detail") else ""))
    return outcome
