"""The whole loop's time through Airflow, and the share of it spent outside compute.

Usage: python bench/pipeline.py [--scale small --days 14] [--scale medium --days 5] ...
       (default: small over 14 days, then medium over 5 days)

Per scale it prints the wall time of a warm-up day and of a trained day (medians), every task's
median time split into compute and the rest, and the totals below.

Each scale simulates its days into a fresh state folder and runs what `make run` runs: the
training DAG for every day through `airflow dags test`, then batch scoring and monitoring. The
run's wall time is split, from Airflow's metadata database and each task's own timings, into:

- compute: the library stages' own time (rankct.pipeline / rankct.monitoring functions) and the
  Spark jobs' compute, without SparkSession start-up;
- Spark start-up: SparkSession starts inside tasks, and for spark-submit jobs everything before
  the job computes (JVM start, spark-submit, the driver's session);
- Airflow task overhead: task duration minus the stage's own time (task runner, XCom, links,
  callbacks);
- Airflow process overhead: each DAG run's wall time minus its tasks' durations (DAG parsing,
  the test loop's scheduling); the runner's own start-up and the Spark Connect server's start are
  in the wall time only (outside compute).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

_JOB_TIMING = re.compile(r"rankct-job-timing (\{.*?\})")


def _task_split(db: Path, result, per_task: dict[str, list] | None = None) -> dict[str, float]:
    """Seconds of compute, Spark start-up and task overhead of one DAG run's tasks; each task's
    (wall, compute) is appended to ``per_task``."""
    connection = sqlite3.connect(db)
    values = dict(connection.execute(
        "SELECT task_id, value FROM xcom WHERE run_id = ? AND key = 'return_value'",
        (result.run_id,)).fetchall())
    jobs = [json.loads(m.group(1)) for m in _JOB_TIMING.finditer(result.log.read_text())]
    split = {"compute": 0.0, "spark_start": 0.0, "task_overhead": 0.0}
    for task in result.tasks:
        if task.seconds is None:
            continue
        summary = json.loads(values[task.task_id]) if task.task_id in values else None
        compute = 0.0
        if isinstance(summary, dict) and "stage_seconds" in summary:
            spark = summary.get("spark_start_seconds", 0.0)
            compute = summary["stage_seconds"] - spark
            split["spark_start"] += spark
            split["task_overhead"] += task.seconds - summary["stage_seconds"]
        elif task.task_id in ("build_features", "score") and jobs:
            job = jobs.pop(0)  # spark-submit jobs, in the order they ran
            compute = job["compute_seconds"]
            split["spark_start"] += task.seconds - job["compute_seconds"]
        else:  # skipped branches and tasks without a stage
            split["task_overhead"] += task.seconds
        split["compute"] += compute
        if per_task is not None and task.state == "success":
            per_task[f"{result.dag_id.removeprefix('ranker_')}.{task.task_id}"].append(
                (task.seconds, compute))
    return split


def bench(scale: str, days: int, seed: int) -> dict:
    from rankct.config import load_config
    from rankct.orchestrate.environment import airflow_home
    from rankct.orchestrate.run import Progress, run_pipeline
    from rankct.pipeline.outcome import Outcome
    from rankct.simulate import simulate
    from rankct.simulate.run import DEFAULT_START

    home = Path(tempfile.mkdtemp(prefix=f"rankct-bench-pipeline-{scale}-"))
    # The caller's RANKCT__ settings apply (e.g. RANKCT__SPARK__DRIVER_MEMORY at medium).
    config = load_config("local", environ={**os.environ, "RANKCT_HOME": str(home)})
    simulate(config.data_root, days=days, scale=scale, seed=seed)
    started = time.perf_counter()
    report = run_pipeline(config, DEFAULT_START, DEFAULT_START + timedelta(days=days - 1),
                          extra_env={"RANKCT_HOME": str(home)}, progress=Progress())
    wall = time.perf_counter() - started
    db = airflow_home(config) / "airflow.db"
    runs = [result for result, _ in report.days] + [r for r in (report.scoring,
                                                                report.monitoring) if r]
    totals = {"compute": 0.0, "spark_start": 0.0, "task_overhead": 0.0, "process_overhead": 0.0}
    per_task: dict[str, list] = defaultdict(list)
    for result in runs:
        for key, value in _task_split(db, result, per_task).items():
            totals[key] += value
        totals["process_overhead"] += result.seconds - sum(t.seconds or 0 for t in result.tasks)
    states = [outcome["state"] for _, outcome in report.days]
    kinds = {"warm-up day": [r.seconds for r, o in report.days if o["state"] == Outcome.WARM_UP],
             "trained day": [r.seconds for r, o in report.days
                             if o["state"] in (Outcome.PROMOTED, Outcome.REJECTED)]}
    return {"scale": scale, "days": days, "wall_seconds": wall, "dag_runs": len(runs),
            "trained_days": sum(s in (Outcome.PROMOTED, Outcome.REJECTED) for s in states),
            "per_dag_run": wall / len(runs), **totals, "home": str(home),
            "day_seconds": {k: statistics.median(v) for k, v in kinds.items() if v},
            "tasks": {name: [statistics.median(w for w, _ in values),
                             statistics.median(c for _, c in values)]
                      for name, values in per_task.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", action="append", choices=["tiny", "small", "medium"])
    parser.add_argument("--days", action="append", type=int)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    plan = list(zip(args.scale or ["small", "medium"], args.days or [14, 5], strict=True))
    rows = [bench(scale, days, args.seed) for scale, days in plan]
    print(f"\n{'scale':<7} {'days':>4} {'DAG runs':>8} {'trained':>7} {'wall s':>8} "
          f"{'s/run':>6} {'compute':>8} {'Spark start':>11} {'task ovh':>8} {'proc ovh':>8} "
          f"{'outside compute':>15}")
    for row in rows:
        outside = row["wall_seconds"] - row["compute"]
        print(f"{row['scale']:<7} {row['days']:>4} {row['dag_runs']:>8} {row['trained_days']:>7} "
              f"{row['wall_seconds']:>8.0f} {row['per_dag_run']:>6.0f} {row['compute']:>8.0f} "
              f"{row['spark_start']:>11.0f} {row['task_overhead']:>8.0f} "
              f"{row['process_overhead']:>8.0f} {outside / row['wall_seconds']:>14.0%}")
    print("\n(seconds; 'outside compute' = 1 - compute / wall: Spark start-up, Airflow task and "
          "process overhead, and the runner's own work between DAG runs)")
    for row in rows:
        print(f"\n{row['scale']}: " + ", ".join(f"{kind} {seconds:.0f} s" for kind, seconds in
                                                row["day_seconds"].items()) + " (medians)")
        print(f"  {'task':<44} {'wall s':>7} {'compute s':>9} {'outside':>8}")
        for name, (task_wall, compute) in row["tasks"].items():
            outside = 1 - compute / task_wall if task_wall else 0.0
            print(f"  {name:<44} {task_wall:>7.1f} {compute:>9.1f} {outside:>7.0%}")
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
