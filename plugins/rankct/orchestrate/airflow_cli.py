"""Airflow's command line, run as a real subprocess: ``airflow db migrate`` and
``airflow dags test`` (a whole DAG run in one process, tasks in order, state in the metadata
database, so the UI shows it afterwards), for a sequence of DAG runs in one process
(:mod:`rankct.airflow.dags_test`).

``dags test`` prints a line when each task starts; :func:`dags_test_runs` turns those into
progress callbacks and keeps each run's output in a log file of its own. Task states and
durations are read back from the metadata database.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from rankct.errors import RankctError

_TASK_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
# Task states that mean the task was reached: it ran, or was skipped or blocked by one that ran.
_REACHED = frozenset({"success", "failed", "skipped", "upstream_failed", "up_for_retry"})
_RUN_ID = re.compile(r"run_id=(manual__\S+?)(?:\s|$|,)")


@dataclass(frozen=True)
class TaskRecord:
    task_id: str
    state: str | None
    seconds: float | None


@dataclass
class DagRunResult:
    """One ``airflow dags test`` run: its state, wall time, tasks and log file."""

    dag_id: str
    day: date
    run_id: str | None
    state: str  # success | failed
    seconds: float
    log: Path
    tasks: list[TaskRecord] = field(default_factory=list)

    @property
    def failed_tasks(self) -> list[str]:
        return [t.task_id for t in self.tasks if t.state == "failed"]

    @property
    def ran_nothing(self) -> bool:
        """True when not one task of the run was reached (e.g. a logical date Airflow would
        not run): such a run did nothing, whatever state Airflow gave it."""
        return not any(t.state in _REACHED for t in self.tasks)


def _airflow() -> str:
    return str(Path(sys.executable).parent / "airflow")


def migrate(env: dict[str, str], log: Path) -> None:
    """Create or upgrade the metadata database (idempotent)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        proc = subprocess.run([_airflow(), "db", "migrate"], env=env, stdout=out,
                              stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise RankctError(f"`airflow db migrate` failed (exit {proc.returncode})",
                          hint=f"see {log}; check AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")


def dags_test(dag_id: str, day: date, env: dict[str, str], log_dir: Path, *,
              conf: str | None = None,
              on_task: Callable[[str], None] | None = None) -> DagRunResult:
    """``airflow dags test <dag_id> <day>``; ``on_task(task_id)`` as each task starts."""
    return dags_test_runs([(dag_id, day)], env, log_dir, conf=conf, on_task=on_task)[0]


def dags_test_runs(runs: list[tuple[str, date]], env: dict[str, str], log_dir: Path, *,
                   conf: str | None = None,
                   on_start: Callable[[str, date], None] | None = None,
                   on_task: Callable[[str], None] | None = None,
                   on_result: Callable[[DagRunResult], None] | None = None,
                   ) -> list[DagRunResult]:
    """``airflow dags test`` of every ``(dag_id, day)`` in order, in one Airflow process
    (:mod:`rankct.airflow.dags_test`): one log file per run; ``on_start(dag_id, day)`` as each
    run starts, ``on_task(task_id)`` as each of its tasks starts and ``on_result(result)`` as it
    ends."""
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "rankct.airflow.dags_test",
               *(["--conf", conf] if conf else []),
               *(f"{dag_id}/{day.isoformat()}" for dag_id, day in runs)]
    results: list[DagRunResult] = []
    current: _Run | None = None
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith(f"{_MARKER} start "):
                dag_id, day = runs[len(results)]
                current = _Run(dag_id, day, log_dir / f"{dag_id}_{day.isoformat()}.log")
                if on_start:
                    on_start(dag_id, day)
                continue
            if current is None:
                continue  # Airflow's start-up, before the first run
            if line.startswith(f"{_MARKER} end "):
                results.append(current.finish(int(line.rsplit("exit=", 1)[1]), env))
                current = None
                if on_result:
                    on_result(results[-1])
                continue
            current.write(line)
            if on_task and (found := _TASK_START.search(line)):
                on_task(found.group(1))
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if current is not None:  # the process died inside a run
        results.append(current.finish(proc.returncode or 1, env))
    if len(results) < len(runs):
        dag_id, day = runs[len(results)]
        raise RankctError(f"`airflow dags test {dag_id} {day}` did not run (exit "
                          f"{proc.returncode})", hint=f"see the logs under {log_dir}; the DAG "
                                                      "may not import (`airflow dags "
                                                      "list-import-errors`)")
    return results


_MARKER = "rankct-dags-test"


class _Run:
    """The output of one DAG run of a ``dags_test_runs`` process, as it streams."""

    def __init__(self, dag_id: str, day: date, log: Path) -> None:
        self.dag_id, self.day, self.log = dag_id, day, log
        self.out = open(log, "w")  # noqa: SIM115 - closed in finish()
        self.started, self.run_id = time.perf_counter(), None

    def write(self, line: str) -> None:
        self.out.write(line)
        if self.run_id is None and (found := _RUN_ID.search(line)):
            self.run_id = found.group(1)

    def finish(self, exit_code: int, env: dict[str, str]) -> DagRunResult:
        self.out.close()
        if self.run_id is None:
            raise RankctError(f"`airflow dags test {self.dag_id} {self.day}` did not start a run "
                              f"(exit {exit_code})",
                              hint=f"see {self.log}: the DAG may not import (`airflow dags "
                                   "list-import-errors`)")
        tasks = task_records(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], self.dag_id,
                             self.run_id)
        result = DagRunResult(self.dag_id, self.day, self.run_id,
                              "success" if exit_code == 0 else "failed",
                              time.perf_counter() - self.started, self.log, tasks)
        if result.ran_nothing:
            result.state = "failed"  # Airflow calls a run of no tasks a success; it did nothing
        return result


def task_records(metadata_uri: str, dag_id: str, run_id: str) -> list[TaskRecord]:
    """States and durations of a DAG run's tasks, from the metadata database (read only)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(metadata_uri, poolclass=sqlalchemy.pool.NullPool)
    query = sqlalchemy.text("SELECT task_id, state, start_date, end_date FROM task_instance "
                            "WHERE dag_id = :dag AND run_id = :run ORDER BY start_date")
    try:
        with engine.connect() as connection:
            rows = connection.execute(query, {"dag": dag_id, "run": run_id}).fetchall()
    finally:
        engine.dispose()
    return [TaskRecord(task_id, state, _seconds(start, end)) for task_id, state, start, end in rows]


def _seconds(start: datetime | str | None, end: datetime | str | None) -> float | None:
    if start is None or end is None:
        return None
    if isinstance(start, str):  # SQLite hands timestamps back as text
        start, end = datetime.fromisoformat(start), datetime.fromisoformat(str(end))
    return (end - start).total_seconds()
