"""Feature pipeline figures: Spark build time per day, materialization (bulk vs Feast's stock
path, same view, same run) and online retrieval latency for a 200-candidate request.

Usage: python bench/features.py [--scale medium] [--days 3] [--repeats 3] [--redis HOST:PORT]

Each materialization runs in a fresh process, which reports its time and its peak memory: the
rise of the peak RSS over the RSS just before the call, divided by the rows written (the Spark
JVM of the stock path is another process and is not counted). Medians of the repeats.
On SQLite three paths are timed: Feast's stock materialization into Feast's own SQLite store
(one row per feature value: what plain Feast does, the reference), Feast's stock
materialization into the wide store the local profile uses, and rankct's bulk writer into it.
--home DIR reuses a state folder built by an earlier run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

VIEW = "item_features"  # the widest view: 27 features per row


CHILD = """
import contextlib, io, json, os, resource, sys, time
from datetime import date, timedelta
import pyarrow.parquet as pq
from feast import FeatureStore
from rankct.config import load_config
from rankct.features.build import FeaturePaths, as_of
from rankct.online.feast_repo import FEATURE_REPO, feature_store
from rankct.online.materialize import materialize_day
profile, day, mode, view = sys.argv[1], date.fromisoformat(sys.argv[2]), sys.argv[3], sys.argv[4]
cfg = load_config(profile)
store = feature_store(cfg)
if mode == "vanilla":  # Feast's stock path into the store of the yaml given
    store = FeatureStore(repo_path=str(FEATURE_REPO), fs_yaml_file=sys.argv[5])
store.list_feature_views()  # load the registry before measuring
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
before, started = rss(), time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):  # Feast's stock path prints progress bars
    if mode == "vanilla":
        store.materialize(start_date=as_of(day) - timedelta(hours=12),
                          end_date=as_of(day) + timedelta(hours=12), feature_views=[view])
        rows = sum(pq.read_metadata(f).num_rows
                   for f in FeaturePaths(cfg.data_root).table(view, day).glob("*.parquet"))
    else:
        rows = materialize_day(cfg, day, [view], stock=mode == "stock")[0].rows
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"rows": rows, "seconds": seconds, "peak_rise": max(peak - before, 0)}))
"""


def _materialize_in_child(home: Path, profile: str, day, mode: str, *extra: str) -> dict:
    env = {**os.environ, "RANKCT_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", CHILD, profile, day.isoformat(), mode, VIEW,
                           *extra], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"materialization ({profile}, {mode}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _vanilla_sqlite(cfg) -> Path:
    """A feature_store.yaml like the local profile's but with Feast's own SQLite online store
    (in another file, over the same registry and offline tables), its tables created."""
    import yaml
    from feast import FeatureStore
    from feast.infra.online_stores.sqlite import SqliteOnlineStore
    from rankct.online.feast_repo import FEATURE_REPO, store_yaml

    settings = yaml.safe_load(store_yaml(cfg).read_text())
    settings["online_store"] = {"type": "sqlite", "path": str(cfg.home / "feast" / "vanilla.db")}
    path = cfg.home / "feast" / "vanilla_feature_store.yaml"
    path.write_text(yaml.safe_dump(settings))
    store = FeatureStore(repo_path=str(FEATURE_REPO), fs_yaml_file=path)
    SqliteOnlineStore().update(store.config, [], store.list_feature_views(), [], [], partial=False)
    return path


def _latency(store, user_id: int, candidates: list[dict], n: int) -> tuple[float, float]:
    from rankct.online.retrieval import RequestFeatures

    features = RequestFeatures(store)
    for _ in range(5):  # warm caches and connections
        features.matrix(user_id, candidates, query="dresses")
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        features.matrix(user_id, candidates, query="dresses")
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * (len(samples) - 1))]


def _materialization(home: Path, profile: str, day, repeats: int,
                     paths: list[tuple[str, str, tuple[str, ...]]]) -> dict[str, tuple]:
    """(rows/s, peak bytes/row) per path, medians of ``repeats`` runs taken round-robin so that
    a slow spell of a shared machine does not fall on one path only."""
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in paths}
    for _ in range(repeats):
        for label, mode, extra in paths:
            runs[label].append(_materialize_in_child(home, profile, day, mode, *extra))
    return {label: (statistics.median(r["rows"] / r["seconds"] for r in found),
                    statistics.median(r["peak_rise"] / r["rows"] for r in found))
            for label, found in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--days", type=int, default=3, help="days built (the last is materialized)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300, help="retrieval samples per store")
    parser.add_argument("--redis", default="127.0.0.1:6379", help="Redis for the prod profile")
    parser.add_argument("--home", type=Path, help="state folder (default: a temporary one)")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="rankct-bench-features-"))
    os.environ["RANKCT_HOME"] = str(home)
    import pandas as pd
    from rankct.config import load_config
    from rankct.features.build import FeaturePaths, build_day
    from rankct.online.feast_repo import feast_cli, feature_store
    from rankct.online.materialize import materialize_day
    from rankct.simulate import simulate
    from rankct.simulate.run import DEFAULT_START
    from rankct.spark import get_spark

    cfg = load_config("local")
    days = [DEFAULT_START + timedelta(days=i) for i in range(args.days)]
    spark = get_spark(cfg.spark)
    build_seconds = []
    if not (cfg.data_root / "raw").exists():
        print(f"simulating {args.days} days ({args.scale}) under {home}", file=sys.stderr)
        simulate(cfg.data_root, days=args.days, scale=args.scale, seed=3)
    for day in days:
        started = time.perf_counter()
        build_day(spark, cfg.data_root, day, cfg)
        build_seconds.append(time.perf_counter() - started)
        print(f"  built {day} in {build_seconds[-1]:.1f}s", file=sys.stderr)
    last = days[-1]
    paths = FeaturePaths(cfg.data_root)
    sizes = {v: len(pd.read_parquet(paths.table(v, last), columns=[])) for v in
             ("item_features", "user_features", "user_category_affinity", "user_brand_affinity")}
    feast_cli(cfg, "apply")

    print(f"\nfeatures, {args.scale} scale, {sys.platform}, {os.cpu_count()} cores")
    print(f"  feature build: {statistics.median(build_seconds[1:] or build_seconds):.1f} s/day "
          f"(median of days 2..{args.days}; day 1 {build_seconds[0]:.1f}s); rows on {last}: "
          + ", ".join(f"{v} {n:,}" for v, n in sizes.items()))

    prod = cfg.model_copy(deep=True)
    prod.profile, prod.home = "prod", home / "prod"
    (prod.home / "data").mkdir(parents=True, exist_ok=True)
    if not (prod.home / "data" / "features").exists():
        (prod.home / "data" / "features").symlink_to(cfg.data_root / "features")
    os.environ["RANKCT_REDIS"] = f"{args.redis},db=8"
    feast_cli(prod, "apply")

    rows = sizes[VIEW]
    vanilla = _vanilla_sqlite(cfg)
    print(f"  materialization of {VIEW} ({rows:,} rows x 27 features), median of "
          f"{args.repeats} fresh processes each; speed-up over Feast's stock path into Feast's "
          "own store of that kind")
    print(f"    {'store':<8} {'path':<28} {'rows/s':>10} {'peak B/row':>11} {'speed-up':>9}")
    sqlite_paths = [("feast stock, feast's sqlite", "vanilla", (str(vanilla),)),
                    ("feast stock, wide sqlite", "stock", ()),
                    ("rankct bulk, wide sqlite", "bulk", ())]
    redis_paths = [("feast stock", "stock", ()), ("rankct bulk", "bulk", ())]
    for name, profile, state, timed in (("sqlite", "local", home, sqlite_paths),
                                        ("redis", "prod", prod.home, redis_paths)):
        figures = _materialization(state, profile, last, args.repeats, timed)
        base = figures[timed[0][0]][0]
        for label, (rate, per_row) in figures.items():
            print(f"    {name:<8} {label:<28} {rate:>10,.0f} {per_row:>11,.0f} {rate / base:>8.1f}x")

    items = pd.read_parquet(paths.table("item_features", last),
                            columns=["item_id", "item_category", "item_brand"]).head(200)
    candidates = [{"item_id": int(r.item_id), "category": r.item_category, "brand": r.item_brand}
                  for r in items.itertuples()]
    user = int(pd.read_parquet(paths.table("user_features", last), columns=["user_id"])
               ["user_id"].iloc[0])
    print(f"  online retrieval, 1 user x 200 candidates, ranker_v1 through Feast's "
          f"get_online_features ({args.requests} requests)")
    for name, store_cfg in (("sqlite", cfg), ("redis", prod)):
        materialize_day(store_cfg, last)
        p50, p99 = _latency(feature_store(store_cfg), user, candidates, args.requests)
        print(f"    {name:<8} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")


if __name__ == "__main__":
    main()
