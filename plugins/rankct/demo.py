"""The main job behind `make run`: simulate a small marketplace and pass every day through the
data gate, printing where everything went. Later stages hang off the same loop."""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from rankct.config import load_config
from rankct.quality.gate import validate_partition
from rankct.simulate import simulate
from rankct.simulate.run import DEFAULT_START
from rankct.spark import get_spark

BAD_DAY = 10
BAD_FAULT = "events_before_impression"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_demo(days: int = 14, scale: str = "small", seed: int = 7) -> int:
    """Simulate ``days`` days (one of them damaged) under ``$RANKCT_HOME`` and validate each."""
    config = load_config()
    data_root = config.data_root
    t0 = time.perf_counter()
    faults = {BAD_FAULT: str(BAD_DAY)} if days >= BAD_DAY else {}
    _say(f"[{time.perf_counter() - t0:5.1f}s] simulating {days} days ({scale}) into {data_root}")
    summary = simulate(data_root, days=days, scale=scale, seed=seed, faults=faults,
                       progress=lambda d, n, e: _say(f"[{time.perf_counter() - t0:5.1f}s]   "
                                                     f"{d}: {n:,} impressions"))
    _say(f"[{time.perf_counter() - t0:5.1f}s] starting Spark ({config.spark.master})")
    spark = get_spark(config.spark)
    verdicts = []
    for i in range(days):
        day = DEFAULT_START + timedelta(days=i)
        _say(f"[{time.perf_counter() - t0:5.1f}s] data gate {day} ({i + 1}/{days})")
        verdicts.append(validate_partition(data_root, day, config, spark))

    print(f"\nrankct demo: {days} days, {summary.rows['impressions']:,} impressions, "
          f"{summary.impressions_per_second:,.0f} impressions/s simulated")
    print(f"  raw data      {data_root / 'raw'}")
    print(f"  hidden truth  {data_root / 'truth'}  (never read by features)")
    print(f"  data gate     {config.reports_dir / 'data_gate'}")
    for result in verdicts:
        mark = "pass" if result.passed else "FAIL"
        line = f"  {result.date}  {mark}"
        if not result.passed:
            first = result.failures[0]
            line += f"  {first.table}.{first.column} rule={first.rule} observed={first.observed:.4g}"
        print(line)
    failed = [r for r in verdicts if not r.passed]
    if failed:
        print(f"\n{len(failed)} day(s) stopped at the data gate "
              f"(injected fault: {BAD_FAULT} on day {BAD_DAY}); training would skip them.")
        print(f"  e.g. {failed[0].result_json}\n       {failed[0].report_html}")
    print(f"\ndone in {time.perf_counter() - t0:.0f}s; state under {config.home}")
    # The injected bad day is expected; anything else failing is a real problem.
    unexpected = [r for r in failed if r.date != (DEFAULT_START + timedelta(days=BAD_DAY - 1)).isoformat()]
    return 1 if unexpected else 0
