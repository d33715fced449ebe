"""Airflow's command line, run as a real subprocess: ``airflow db migrate`` and
``airflow dags test`` (a whole DAG run in one process, tasks in order, state in the metadata
database, so the UI shows it afterwards).

``dags test`` prints a line when each task starts; :func:`dags_test` turns those into progress
callbacks and keeps the whole output in a log file. Task states and durations are read back
from the metadata database.
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
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{dag_id}_{day.isoformat()}.log"
    command = [_airflow(), "dags", "test", dag_id, day.isoformat()]
    if conf:
        command += ["--conf", conf]
    started, run_id = time.perf_counter(), None
    with open(log, "w") as out:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if run_id is None and (found := _RUN_ID.search(line)):
                run_id = found.group(1)
            if on_task and (found := _TASK_START.search(line)):
                on_task(found.group(1))
        proc.wait()
    seconds = time.perf_counter() - started
    tasks = task_records(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], dag_id, run_id) \
        if run_id else []
    if run_id is None:
        raise RankctError(f"`airflow dags test {dag_id} {day}` did not start a run "
                          f"(exit {proc.returncode})",
                          hint=f"see {log}: the DAG may not import (`airflow dags list-import-"
                               "errors`)")
    result = DagRunResult(dag_id, day, run_id, "success" if proc.returncode == 0 else "failed",
                          seconds, log, tasks)
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
