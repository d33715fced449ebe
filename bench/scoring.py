"""Scoring speed: the Spark batch-scoring stage against one process, and request latency.

1. Throughput, rows/s. Both sides score the same candidate pairs with the same booster into the
   same scores (the bench checks they are equal), on every core of this machine. The pairs and
   the day's four feature tables are synthetic (ranker_v1's 41 table columns, 10% missing) in a
   medium day's proportions: 140 candidates per scored user, 25 per item on sale, 2.2 users with
   features per scored user, 5 category and 15 brand affinity rows per user, 12 categories,
   500 brands.
   - single process: from the pairs already joined with the tables (a pandas frame in memory;
     the join is not timed), ``add_request_features`` and ``feature_matrix`` (pandas, one
     thread), then ``inplace_predict`` with nthread = cores.
   - Spark, as the batch-scoring job runs it: from a cached DataFrame of the pairs' keys on
     ``local[*]``, the driver builds the ``FeatureLookup`` of the tables (timed: the job builds
     it on every run), ``score_pairs`` broadcasts it, only the keys cross to Python in Arrow
     batches, each of ``cores`` concurrent tasks gathers its rows and runs ``inplace_predict``
     with nthread = 1, keys and scores go back to the JVM, into Spark's no-op sink.
   - Spark join path, for tables too large to hold in each worker: ``score_rows`` from a cached
     DataFrame of the joined rows (the joins are not timed); the JVM packs the features into a
     float32 array per row.
   Neither includes candidate generation or reading files. The repeats alternate the sides, so
   load from other work hits all of them; a ratio is median Spark rows/s over median single
   rows/s. The CPU time per row of each side (this process, the Spark JVM, the PySpark workers;
   from /proc) says where the difference goes, and is steadier than wall time on a shared
   machine.
2. Latency of one 100-candidate request: ONNX Runtime under several session options, and native
   XGBoost (``inplace_predict`` and ``DMatrix`` + ``predict``), p50 and p99 over many calls.

Usage: python bench/scoring.py [--rows 1000000] [--trees 300] [--repeats 5] [--calls 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import xgboost as xgb
from rankct.config import SparkConfig
from rankct.export.onnx_model import onnx_session, save_onnx, to_onnx
from rankct.scoring.frame import add_request_features, feature_matrix, scoring_rows_in_pandas
from rankct.scoring.lookup import FeatureLookup
from rankct.scoring.score import score_pairs, score_rows, scoring_conf
from rankct.simulate.world import CATEGORIES as WORLD_CATEGORIES
from rankct.spark import get_spark

ITEM = ["price", "log_price", "age_days", "condition_rank", "photo_count", "category_code",
        "brand_code", "seller_rating", "seller_sales_30d", "brand_ctr_30d",
        "brand_impressions_30d", *[f"{c}_{d}d" for d in (1, 7, 30)
                                   for c in ("impressions", "clicks", "favourites")],
        "ctr_1d", "ctr_7d", "ctr_30d"]
USER = ["days_since_signup", "user_impressions_7d", "user_clicks_7d", "user_impressions_30d",
        "user_clicks_30d", "user_ctr_7d", "user_ctr_30d", "user_purchases_30d",
        "user_median_purchase_price_30d", "top_category_share"]
AFFINITY = [f"user_{k}_{c}_30d" for k in ("category", "brand")
            for c in ("impressions", "engaged", "purchases", "affinity")]
FEATURES = [*ITEM, *USER, *AFFINITY, "price_to_user_median", "query_category_match"]
CATEGORIES = list(WORLD_CATEGORIES)
BRANDS = [f"brand{i}" for i in range(500)]


def _features(rng: np.random.Generator, n: int, columns: list[str]) -> pd.DataFrame:
    values = rng.gamma(2.0, 10.0, size=(n, len(columns)))
    values[rng.random(values.shape) < 0.1] = np.nan
    return pd.DataFrame(values, columns=columns)


def market(n: int, seed: int = 0) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The day's four feature tables and about ``n`` distinct candidate pairs, in a medium
    day's proportions (see the module docstring)."""
    rng = np.random.default_rng(seed)
    scored_users, n_items = max(n // 140, 10), max(n // 25, 200)
    n_users = int(scored_users * 2.2)
    items = _features(rng, n_items, [c for c in ITEM if c != "price"])
    items["price"] = rng.gamma(2.0, 15.0, size=n_items)
    items.insert(0, "item_id", rng.permutation(n_items * 3)[:n_items].astype(np.int64))
    items["item_category"] = rng.choice(CATEGORIES, n_items)
    items["item_brand"] = rng.choice(BRANDS, n_items)
    users = _features(rng, n_users, USER)
    users.insert(0, "user_id", np.arange(n_users, dtype=np.int64))

    def affinity(kind: str, vocabulary: list[str], per_user: int) -> pd.DataFrame:
        keys = np.concatenate([rng.choice(vocabulary, per_user, replace=False)
                               for _ in range(n_users)])
        frame = _features(rng, len(keys), [c for c in AFFINITY if f"_{kind}_" in c])
        frame.insert(0, "user_id", np.repeat(users["user_id"].to_numpy(), per_user))
        frame.insert(1, kind, keys)
        return frame

    tables = {"item_features": items, "user_features": users,
              "user_category_affinity": affinity("category", CATEGORIES, 5),
              "user_brand_affinity": affinity("brand", BRANDS, 15)}
    # A tenth of the scored users have no features yet (signed up today).
    who = rng.choice(n_users + scored_users // 10, scored_users, replace=False)
    pairs = pd.DataFrame({"user_id": np.repeat(who, n // scored_users + 1)[:n].astype(np.int64),
                          "item_id": rng.choice(items["item_id"].to_numpy(), n)})
    pairs = pairs.drop_duplicates(ignore_index=True)
    pairs["sources"] = "popular"
    return tables, pairs


def joined(tables: dict[str, pd.DataFrame], pairs: pd.DataFrame) -> pd.DataFrame:
    """``pairs`` with every table feature, as ``scoring_rows`` joins them (sorted by user, item)."""
    return scoring_rows_in_pandas(pairs, tables).sort_values(["user_id", "item_id"],
                                                             ignore_index=True)


def booster(n_trees: int) -> xgb.Booster:
    frame = add_request_features(joined(*market(20_000, seed=1)))
    rng = np.random.default_rng(2)
    label = rng.integers(0, 4, size=len(frame))
    dtrain = xgb.DMatrix(feature_matrix(frame, FEATURES), label=label, qid=frame["user_id"],
                         feature_names=FEATURES, missing=np.nan)
    return xgb.train({"objective": "rank:ndcg", "max_depth": 6, "eta": 0.1, "nthread": 0,
                      "seed": 0}, dtrain, num_boost_round=n_trees)


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) used so far by this process, its Spark JVM and the PySpark
    workers under it, read from /proc: what each side of the throughput comparison burns."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, seconds, name = {}, {}, {}
    for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
        try:
            comm, stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)
        except OSError:  # the process ended while we looked
            continue
        fields = stat.split()
        parent[pid], name[pid] = int(fields[1]), comm.split("(", 1)[1]
        seconds[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime

    def ours(pid: int) -> bool:
        while pid > 1:
            pid = parent.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    used = {"this process": seconds.get(os.getpid(), 0.0), "JVM": 0.0, "Python workers": 0.0}
    for pid, spent in seconds.items():
        if pid != os.getpid() and ours(pid):
            used["JVM" if name[pid] == "java" else "Python workers"] += spent
    return used


def _single(model: xgb.Booster, frame: pd.DataFrame, cores: int) -> np.ndarray:
    """The scores of ``frame``'s rows in this process. ``frame`` keeps the request-time columns
    added (a later call overwrites them with the same values at the same cost)."""
    X = feature_matrix(add_request_features(frame), FEATURES)
    model.set_param({"nthread": cores})
    return model.inplace_predict(X, predict_type="margin", missing=np.nan)


SIDES = ("single", "spark", "spark join path")


def throughput(model: xgb.Booster, n: int, repeats: int) -> dict:
    """Rows/s of each side on the same pairs (medians), per-row CPU, and the largest difference
    between a Spark side's scores and the single process's."""
    tables, pairs = market(n)
    frame = joined(tables, pairs)
    cores = os.cpu_count() or 1
    spark = get_spark(SparkConfig(master="local[*]", driver_memory="4g",
                                  shuffle_partitions=cores), app_name="rankct-bench-scoring")
    speed: dict[str, list[float]] = {side: [] for side in SIDES}
    cpu: dict[str, dict[str, float]] = {side: {} for side in SIDES}
    with tempfile.TemporaryDirectory() as tmp, scoring_conf(spark):
        def cached(rows: pd.DataFrame, name: str):
            path = Path(tmp) / f"{name}.parquet"
            rows.to_parquet(path, index=False)
            source = spark.read.parquet(str(path)).repartition(cores * 2).cache()
            source.count()
            return source

        keys, rows = cached(pairs, "pairs"), cached(frame, "rows")
        runs = {
            "single": lambda: _single(model, frame, cores),
            "spark": lambda: score_pairs(keys, FeatureLookup(FEATURES, tables), model)
            .write.format("noop").mode("overwrite").save(),
            "spark join path": lambda: score_rows(rows, model, FEATURES)
            .write.format("noop").mode("overwrite").save(),
        }
        expected = _single(model, frame, cores)  # the scores to match
        for run in runs.values():  # warm-up: Python workers start, pandas and numpy load
            run()
        for _ in range(repeats):
            for side, run in runs.items():
                before = _cpu_seconds()
                start = time.perf_counter()
                run()
                speed[side].append(len(frame) / (time.perf_counter() - start))
                # The single side: only this process (the idle JVM's housekeeping is not its
                # work).
                _add_cpu(cpu[side], before, _cpu_seconds(), len(frame) * repeats,
                         ["this process"] if side == "single" else None)
        expected = pd.Series(expected, index=pd.MultiIndex.from_frame(frame[["user_id",
                                                                             "item_id"]]))
        diffs = {}
        for side, scored in (("spark", score_pairs(keys, FeatureLookup(FEATURES, tables), model)),
                             ("spark join path", score_rows(rows, model, FEATURES))):
            got = scored.select("user_id", "item_id", "score").toPandas()
            got = got.set_index(["user_id", "item_id"])["score"]
            if len(got) != len(expected):
                raise SystemExit(f"{side} scored {len(got):,} rows, not {len(expected):,}")
            diffs[side] = float(np.max(np.abs(got.reindex(expected.index).to_numpy()
                                              - expected.to_numpy())))
        keys.unpersist()
        rows.unpersist()
    return {"cores": cores, "rows": len(frame), "tables": {k: len(v) for k, v in tables.items()},
            "speed": {side: statistics.median(v) for side, v in speed.items()},
            "pairs": {side: [d / s for s, d in zip(speed["single"], v, strict=True)]
                      for side, v in speed.items() if side != "single"},
            "max_diff": diffs, "cpu": cpu}


def _add_cpu(into: dict[str, float], before: dict[str, float], after: dict[str, float],
             rows: int, kinds: list[str] | None = None) -> None:
    """Add the CPU microseconds per row spent between ``before`` and ``after`` by each process
    kind (all, or ``kinds``)."""
    for kind in kinds or list(after):
        into[kind] = into.get(kind, 0.0) + (after[kind] - before.get(kind, 0.0)) * 1e6 / rows


def _percentiles(fn, X: np.ndarray, calls: int) -> tuple[float, float]:
    for _ in range(50):
        fn(X)
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter_ns()
        fn(X)
        times[i] = time.perf_counter_ns() - start
    return float(np.percentile(times, 50)) / 1e3, float(np.percentile(times, 99)) / 1e3


def _session(path: Path, threads: int, level: ort.GraphOptimizationLevel,
             mode: ort.ExecutionMode, spin: bool = True) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.graph_optimization_level, opts.execution_mode = level, mode
    if not spin:
        # Idle pool threads sleep instead of spinning: gives a core back to other work.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def latency(model: xgb.Booster, calls: int) -> list[tuple[str, float, float]]:
    """(configuration, p50 us, p99 us) for one request of 100 candidates."""
    X = feature_matrix(add_request_features(joined(*market(2_000, seed=3)).head(100)), FEATURES)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        save_onnx(to_onnx(model, FEATURES), path)
        seq, par = ort.ExecutionMode.ORT_SEQUENTIAL, ort.ExecutionMode.ORT_PARALLEL
        full, none = ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sessions = {
            "ort onnx_session default (intra=all cores)": onnx_session(path),
            "ort onnx_session threads=1": onnx_session(path, threads=1),
            "ort intra=1, no graph optimization": _session(path, 1, none, seq),
            "ort intra=2, sequential": _session(path, 2, full, seq),
            "ort intra=2, no spinning": _session(path, 2, full, seq, spin=False),
            "ort intra=1, parallel mode": _session(path, 1, full, par),
        }
        for name, session in sessions.items():
            results.append((name, *_percentiles(
                lambda x, s=session: s.run(["score"], {"features": x}), X, calls)))
    for threads in (1, os.cpu_count() or 1):
        model.set_param({"nthread": threads})
        results.append((f"xgboost inplace_predict nthread={threads}", *_percentiles(
            lambda x: model.inplace_predict(x, predict_type="margin", missing=np.nan), X, calls)))
    model.set_param({"nthread": 1})
    # The DMatrix gets one thread too: its default (every core) is the OpenMP pool that makes
    # a 100-row call wait for a busy core.
    results.append(("xgboost DMatrix + predict nthread=1", *_percentiles(
        lambda x: model.predict(xgb.DMatrix(x, feature_names=FEATURES, missing=np.nan,
                                            nthread=1), output_margin=True), X, calls)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # A medium day scores 7.7M candidates; at 1M rows the per-job fixed costs (task launch,
    # Python workers, booster load) no longer weigh on the Spark side as they do at 300k.
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1000, help="latency calls (0: skip)")
    args = parser.parse_args()
    model = booster(args.trees)
    print(f"model: {args.trees} trees of depth 6, {len(FEATURES)} features")
    lat = latency(model, args.calls) if args.calls else []
    if lat:
        print(f"\none request of 100 candidates, {args.calls} calls:")
        print(f"  {'configuration':<44} {'p50 us':>9} {'p99 us':>9}")
    for name, p50, p99 in lat:
        print(f"  {name:<44} {p50:>9.1f} {p99:>9.1f}")
    tp = throughput(model, args.rows, args.repeats)
    tables = ", ".join(f"{name} {rows:,}" for name, rows in tp["tables"].items())
    print(f"\nbatch scoring of {tp['rows']:,} candidate pairs on {tp['cores']} cores (median of "
          f"{args.repeats}, alternating); tables: {tables} rows")
    labels = {"single": f"single process (joined frame, pandas features, nthread={tp['cores']})",
              "spark": "Spark score_pairs (lookup built + broadcast, keys only)",
              "spark join path": "Spark score_rows (rows joined and cached)"}
    for side, label in labels.items():
        print(f"  {label:<62} {tp['speed'][side]:>10,.0f} rows/s")
    for side in ("spark", "spark join path"):
        ratio = tp["speed"][side] / tp["speed"]["single"]
        pairs = ", ".join(f"{r:.2f}" for r in tp["pairs"][side])
        print(f"  ratio {side} / single process: {ratio:.2f}x (per alternating round: {pairs}); "
              f"max |score diff| {tp['max_diff'][side]:.3g}")
    for side, used in tp["cpu"].items():
        parts = ", ".join(f"{kind} {us:.2f}" for kind, us in used.items() if us >= 0.01)
        print(f"  CPU per row, {side}: {sum(used.values()):.2f} us ({parts})")
    if max(tp["max_diff"].values()) > 1e-5:
        raise SystemExit("the sides scored the pairs differently: the comparison is void")

if __name__ == "__main__":
    main()
