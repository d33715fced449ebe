"""The end-to-end run behind ``make run`` and ``rankct run``: the training DAG for every day of
a range through ``airflow dags test`` (one DAG run per day, real tasks, state in Airflow's
metadata database), then the batch-scoring and monitoring DAGs for the newest day that has
features. Progress goes to stderr as it happens: which day, which task, elapsed time.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rankct.config import RankctConfig
from rankct.contract import SUCCESS_MARKER
from rankct.errors import RankctError
from rankct.orchestrate.airflow_cli import DagRunResult, dags_test, migrate
from rankct.orchestrate.environment import airflow_environment, airflow_home
from rankct.pipeline.day import DayRun
from rankct.pipeline.outcome import Outcome

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


def _features_built(config: RankctConfig, day: date) -> bool:
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
    day = start
    while day <= end:
        report.days.append(_train_day(config, day, env, logs, progress))
        day += timedelta(days=1)
    served = [d for d in (end - timedelta(days=i) for i in range((end - start).days + 1))
              if _features_built(config, d)]
    target = served[0] if served else None
    champion = any(outcome["state"] == Outcome.PROMOTED for outcome in report.outcomes())
    if score and target and champion:
        report.scoring = _run(SCORING_DAG, target, env, logs, progress)
    if monitor and target and champion:
        report.monitoring = _run(MONITORING_DAG, target, env, logs, progress)
    report.seconds = time.perf_counter() - began
    return report


def _run(dag_id: str, day: date, env: dict[str, str], logs: Path,
         progress: Progress) -> DagRunResult:
    progress.say(f"{day}  {dag_id}")
    result = dags_test(dag_id, day, env, logs,
                       on_task=lambda task: progress.say(f"{day}  {dag_id}.{task}"))
    progress.say(f"{day}  {dag_id}: {result.state} in {result.seconds:.0f}s"
                 + (f" (failed: {', '.join(result.failed_tasks)})" if result.failed_tasks
                    else "") + (" (no task ran)" if result.ran_nothing else ""))
    return result


def _train_day(config: RankctConfig, day: date, env: dict[str, str], logs: Path,
               progress: Progress) -> tuple[DagRunResult, dict[str, Any]]:
    result = _run(TRAINING_DAG, day, env, logs, progress)
    outcome = DayRun(config, day).outcome() or {"day": day.isoformat(), "state": Outcome.FAILED,
                                                "detail": f"no outcome recorded; see {result.log}"}
    if result.ran_nothing:
        outcome = {"day": day.isoformat(), "state": Outcome.FAILED,
                   "detail": f"no task of {TRAINING_DAG} ran for {day} (run {result.run_id}); "
                             f"see {result.log}"}
    elif result.state == "failed" and outcome["state"] in (Outcome.RUNNING, Outcome.PASSED):
        outcome = {**outcome, "state": Outcome.FAILED,
                   "detail": f"tasks {', '.join(result.failed_tasks)} failed; see {result.log}"}
    progress.say(f"{day}  outcome: {outcome['state']}"
                 + (f" v{outcome['version']}" if outcome.get("version") else "")
                 + (f" - {outcome['detail']}" if outcome.get("detail") else ""))
    return result, outcome
