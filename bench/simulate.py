"""Simulator throughput and memory at the small and medium scales.

Each run is a fresh process (so peak RSS belongs to it alone); we report the median of the
repeats. Usage: python bench/simulate.py [--days 3] [--repeats 3] [--scales small medium]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, time
from rankct.simulate import simulate
scale, days, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t = time.perf_counter()
s = simulate(out, days=days, scale=scale, seed=1)
print(json.dumps({"impressions": s.rows["impressions"], "seconds": time.perf_counter() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(scale: str, days: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, "-c", CHILD, scale, str(days), out],
                              capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scales", nargs="+", default=["small", "medium"])
    args = parser.parse_args()
    print(f"{'scale':<8} {'impressions/day':>16} {'impressions/s':>14} {'s/day':>7} "
          f"{'peak RSS MB':>12}   (median of {args.repeats}, {args.days} days each)")
    for scale in args.scales:
        runs = [run(scale, args.days) for _ in range(args.repeats)]
        per_day = statistics.median(r["impressions"] for r in runs) / args.days
        rate = statistics.median(r["impressions"] / r["seconds"] for r in runs)
        secs = statistics.median(r["seconds"] for r in runs) / args.days
        rss = statistics.median(r["peak_rss_mb"] for r in runs)
        print(f"{scale:<8} {per_day:>16,.0f} {rate:>14,.0f} {secs:>7.2f} {rss:>12,.0f}")


if __name__ == "__main__":
    main()
