"""The same days on the local profile and through the production stack's scheduler.

Usage: python bench/prod_profile.py [--days 5] [--scale tiny] [--executor local|celery]

Simulates the days once (the last one damaged: events before their impression), then runs
``rankct run`` over them twice, each in a fresh RANKCT_HOME:

- local: ``airflow dags test`` on SQLite, files and Spark ``local[*]`` (one Connect server);
- prod: ``rankct stack up --profile prod --free-ports`` (Spark standalone master and two
  workers, Airflow on this machine's PostgreSQL with the chosen executor, the MLflow server,
  Feast on Redis), then ``rankct run --profile prod``, which drives a backfill through the
  stack's scheduler; the stack and its databases are removed after.

Prints each run's wall time, the stack's start time, each day's outcome on both, and whether
the champion's ONNX bytes are equal. Settings are those of the end-to-end tests for a tiny
market (three days of history to train; the gate tolerates the tiny market's deficit against
the logged ranking so that a champion is made).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

RANKCT = str(Path(sys.executable).parent / "rankct")
START = date(2026, 11, 1)
SETTINGS = {  # tests/e2e/conftest.py's, for a tiny market
    "RANKCT__PIPELINE__MIN_HISTORY_DAYS": "3", "RANKCT__GATE__MIN_NDCG": "0.2",
    "RANKCT__GATE__BASELINE_MARGIN": "1.0", "RANKCT__GATE__N_RESAMPLES": "2000",
    "RANKCT__TRAINING__NUM_BOOST_ROUND": "60",
    "RANKCT__MONITORING__MAX_FEATURE_DRIFT_SHARE": "0.9", "RANKCT_RETRY_DELAY_SECONDS": "5",
}


def _environment(home: Path, profile: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "AIRFLOW_", "AIRFLOW__", "RANKCT"))}
    return {**env, **SETTINGS, "RANKCT_HOME": str(home), "RANKCT_PROFILE": profile}


def _run(argv: list[str], env: dict[str, str], timeout: float = 7200) -> tuple[float, str]:
    began = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    seconds = time.perf_counter() - began
    if proc.returncode not in (0, 3):  # 3: a gate stopped a day (the damaged one)
        sys.exit(f"{' '.join(argv[1:3])} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                 f"{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def _outcomes(home: Path) -> dict[str, str]:
    summary = json.loads((home / "reports" / "summary" / "summary.json").read_text())
    return {o["day"]: f"{o['state']}{' v' + str(o['version']) if o.get('version') else ''}"
            for o in summary["outcomes"]}


def _onnx_digest(home: Path) -> str | None:
    files = sorted((home / "exports").glob("*/*/model.onnx"))
    return hashlib.sha256(files[-1].read_bytes()).hexdigest()[:16] if files else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--executor", choices=["local", "celery"], default="local")
    args = parser.parse_args()
    from rankct.simulate import simulate

    root = Path(tempfile.mkdtemp(prefix="rankct-bench-prod-"))
    last = START + timedelta(days=args.days - 1)
    simulate(root / "data", days=args.days, scale=args.scale, seed=args.seed, start=START,
             faults={"events_before_impression": last.isoformat()})
    span = ["--data-root", str(root / "data"), "--from", START.isoformat(),
            "--to", last.isoformat()]

    local_home = root / "local"
    local_seconds, _ = _run([RANKCT, "run", *span], _environment(local_home, "local"))

    prod_home = root / "prod"
    env = {**_environment(prod_home, "prod"), "RANKCT_STACK_EXECUTOR": args.executor,
           "RANKCT_STACK_DB_SUFFIX": "_bench" + uuid.uuid4().hex[:8],
           "RANKCT_STACK_FEAST_REDIS_DB": "12", "RANKCT_STACK_BROKER_REDIS_DB": "15",
           "RANKCT_SCHEDULE_END": last.isoformat()}  # no run of today's interval
    try:
        up_seconds, _ = _run([RANKCT, "stack", "up", "--free-ports", "--timeout", "600"], env)
        prod_seconds, _ = _run([RANKCT, "run", *span], env)
    finally:
        subprocess.run([RANKCT, "stack", "down"], env=env, timeout=300, check=False,
                       capture_output=True)
        from rankct.config import load_config
        from rankct.stack.prepare import admin_url, drop_databases
        from rankct.stack.settings import load_settings

        drop_databases(load_settings(load_config("prod", environ=env), environ=env),
                       admin_url(env))

    local, prod = _outcomes(local_home), _outcomes(prod_home)
    print(f"{args.days} {args.scale} days (seed {args.seed}), the last damaged; "
          f"prod executor: {args.executor}")
    print(f"{'day':<12}{'local':<28}{'prod':<28}")
    for day in sorted(local):
        print(f"{day:<12}{local[day]:<28}{prod.get(day, '-'):<28}")
    print(f"local: rankct run {local_seconds:7.0f} s")
    print(f"prod:  stack up   {up_seconds:7.0f} s")
    print(f"prod:  rankct run {prod_seconds:7.0f} s  ({prod_seconds / local_seconds:.2f}x local)")
    print(f"same decisions: {local == prod}; same champion ONNX bytes: "
          f"{_onnx_digest(local_home) == _onnx_digest(prod_home) is not None}")


if __name__ == "__main__":
    main()
