"""Data gate 1 on its two engines, on the same day: the BigQuery gate (its three query jobs, on
the local BigQuery emulator) beside the Spark gate (local Spark, parquet partitions).

Usage: python bench/bq_gate.py [--scales small medium] [--days 5] [--repeats 3]

For each scale: simulate the days, load them into the emulator (`rankct bq load`, timed once),
then time each gate on the last day (which has the full trailing window); medians of the
repeats. Spark's session start is outside the timing (a DAG task may reuse one), its figure
includes the Evidently summary of a sample the Spark gate always writes (the BigQuery gate writes
none); the emulator runs on this machine, so the BigQuery figure is DuckDB's speed, not Google's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from functools import partial
from pathlib import Path

START = date(2026, 11, 1)


def _median_seconds(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=["small"],
                        choices=["tiny", "small", "medium"])
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from rankct.config import SparkConfig, load_config
    from rankct.gcp import emulators
    from rankct.gcp.raw_tables import load_range
    from rankct.quality.bigquery import validate_bigquery
    from rankct.quality.gate import validate_partition
    from rankct.simulate import simulate
    from rankct.spark import get_spark

    work = Path(tempfile.mkdtemp(prefix="bench_bq_gate_"))
    state = emulators.start(work / "emulators", "rankct-bench")
    config = load_config("gcp", environ={"RANKCT_HOME": str(work / "home"),
                                         **state.environment()})
    config.spark = SparkConfig(master="local[2]", driver_memory="2g", shuffle_partitions=4)
    spark = get_spark(config.spark, app_name="bench-bq-gate")
    day = START + timedelta(days=args.days - 1)
    print(f"data gate 1 on {day} ({args.days} days simulated, medians of {args.repeats})")
    print(f"{'scale':<8}{'impressions':>12}{'bq load':>10}{'BigQuery gate':>15}"
          f"{'Spark gate':>12}  verdicts")
    try:
        for scale in args.scales:
            root = work / scale
            simulate(root, days=args.days, scale=scale, seed=3, start=START)
            cfg = config.model_copy(deep=True)
            cfg.gcp = cfg.gcp.model_copy(update={"dataset": f"bench_{scale}"})
            started = time.perf_counter()
            loaded = load_range(root, cfg)
            load_s = time.perf_counter() - started
            rows = sum(p.rows for p in loaded if p.table == "impressions" and p.day == day)
            bq_s, bq = _median_seconds(
                partial(validate_bigquery, day, cfg, reports_dir=work / "reports_bq"),
                args.repeats)
            spark_s, on_spark = _median_seconds(
                partial(validate_partition, root, day, cfg, spark, reports_dir=work / "reports"),
                args.repeats)
            verdicts = f"bq {'pass' if bq.passed else 'FAIL'}, spark " \
                       f"{'pass' if on_spark.passed else 'FAIL'}"
            print(f"{scale:<8}{rows:>12,}{load_s:>9.1f}s{bq_s:>14.2f}s{spark_s:>11.2f}s  "
                  f"{verdicts}", flush=True)
    finally:
        spark.stop()
        emulators.stop(work / "emulators")
    return 0


if __name__ == "__main__":
    sys.exit(main())
