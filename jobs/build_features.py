"""spark-submit entry point: build the feature tables of a day, or backfill a range.

    spark-submit jobs/build_features.py --date 2026-11-05 --data-root var/data
    python jobs/build_features.py --date 2026-11-01 --to 2026-11-14 --master 'local[*]'
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from rankct.config import load_config
    from rankct.errors import RankctError
    from rankct.features.build import build_range
    from rankct.spark import get_spark

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", type=date.fromisoformat, required=True, help="day (YYYY-MM-DD)")
    parser.add_argument("--to", type=date.fromisoformat, help="last day of a backfill range")
    parser.add_argument("--data-root", type=Path, help="data root (default $RANKCT_HOME/data)")
    parser.add_argument("--master", help="Spark master (default from the profile)")
    parser.add_argument("--profile", help="configuration profile (default $RANKCT_PROFILE or "
                                          "local; Dataproc jobs name it, having no environment)")
    args = parser.parse_args(argv)
    config = load_config(args.profile)
    if args.master:
        config.spark.master = args.master
    try:
        spark = get_spark(config.spark, app_name="rankct-features")
        started = time.perf_counter()
        days = build_range(spark, args.data_root or config.data_root, args.date,
                           args.to or args.date, config)
    except RankctError as exc:
        print(f"build_features: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"built features for {days[0]}..{days[-1]}")
    print(job_timing(time.perf_counter() - started))
    return 0


def job_timing(compute_seconds: float) -> str:
    """One line for the pipeline benchmark: how long the job computed, and how long its
    SparkSession took to come up (the rest of the task's time is spark-submit and JVM start)."""
    import json

    from rankct.spark import SESSION_STARTS

    return "rankct-job-timing " + json.dumps({"compute_seconds": round(compute_seconds, 3),
                                              "session_seconds": round(sum(SESSION_STARTS), 3)})


if __name__ == "__main__":
    sys.exit(main())
