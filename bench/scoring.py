"""Scoring speed: the Spark batch-scoring stage against one process, and request latency.

1. Throughput, rows/s. Both sides score the same rows (ranker_v1's 41 table columns with
   synthetic values, 10% missing, plus keys and item_category), with the same booster, into the
   same scores (the bench checks they are equal), on every core of this machine:
   - single process: from a pandas frame in memory, ``add_request_features`` and
     ``feature_matrix`` (pandas, one thread), then ``inplace_predict`` with nthread = cores.
   - Spark: from a cached DataFrame of those rows on ``local[*]``, ``score_rows`` under
     ``scoring_conf`` exactly as the batch-scoring job runs it (JVM packs the features into a
     float32 array, Arrow batches to Python, request-time features, ``inplace_predict`` with
     nthread = 1 in each of ``cores`` concurrent tasks, keys and scores back to the JVM), into
     Spark's no-op sink. Both use all cores: one multi-threaded predict against one task per core.
   Neither includes candidate generation or the feature joins (in the job they run before
   scoring and are cached), nor reading files. The repeats alternate single and Spark, so load
   from other work hits both; the ratio is median Spark rows/s over median single rows/s. The
   CPU time per row of each side (this process, the Spark JVM, the PySpark workers; from /proc)
   says where the difference goes, and is steadier than wall time on a shared machine.
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
from rankct.scoring.frame import add_request_features, feature_matrix
from rankct.scoring.score import score_rows, scoring_conf
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
CATEGORIES = ["dresses", "bags", "shoes", "coats", "jeans", "books", "toys", "sneakers"]


def rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Candidate rows as the scoring job builds them: keys, category, table features (10% NaN)."""
    rng = np.random.default_rng(seed)
    table = [c for c in FEATURES if c not in ("price_to_user_median", "query_category_match")]
    values = rng.gamma(2.0, 10.0, size=(n, len(table)))
    values[rng.random(values.shape) < 0.1] = np.nan
    frame = pd.DataFrame(values, columns=table)
    frame["price"] = rng.gamma(2.0, 15.0, size=n)
    frame.insert(0, "user_id", rng.integers(0, n // 150 + 1, size=n))
    frame.insert(1, "item_id", np.arange(n))
    frame["sources"] = "popular"
    frame["item_category"] = rng.choice(CATEGORIES, size=n)
    return frame


def booster(n_trees: int) -> xgb.Booster:
    frame = add_request_features(rows(20_000, seed=1)).sort_values("user_id")
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


def _single(model: xgb.Booster, frame: pd.DataFrame, cores: int) -> tuple[float, np.ndarray]:
    """Seconds to score ``frame`` in this process, and the scores."""
    start = time.perf_counter()
    X = feature_matrix(add_request_features(frame), FEATURES)
    model.set_param({"nthread": cores})
    scores = model.inplace_predict(X, predict_type="margin", missing=np.nan)
    return time.perf_counter() - start, scores


def throughput(model: xgb.Booster, n: int, repeats: int) -> dict[str, float]:
    """Rows/s of the Spark stage and of one process on the same rows (medians), and the largest
    difference between their scores."""
    frame = rows(n)
    cores = os.cpu_count() or 1
    spark = get_spark(SparkConfig(master="local[*]", driver_memory="4g",
                                  shuffle_partitions=cores), app_name="rankct-bench-scoring")
    single, distributed = [], []
    cpu = {"single": {}, "spark": {}}
    with tempfile.TemporaryDirectory() as tmp, scoring_conf(spark):
        path = Path(tmp) / "rows.parquet"
        frame.to_parquet(path, index=False)
        source = spark.read.parquet(str(path)).repartition(cores * 2).cache()
        source.count()
        scored = score_rows(source, model, FEATURES)
        scored.write.format("noop").mode("overwrite").save()  # warm-up: Python workers start
        _, expected = _single(model, frame.copy(), cores)  # warm-up, and the scores to match
        for _ in range(repeats):
            copy = frame.copy()
            before = _cpu_seconds()
            single.append(n / _single(model, copy, cores)[0])
            # Only this process: the idle JVM's housekeeping is not the single side's work.
            _add_cpu(cpu["single"], before, _cpu_seconds(), n * repeats, ["this process"])
            before = _cpu_seconds()
            start = time.perf_counter()
            scored.write.format("noop").mode("overwrite").save()
            distributed.append(n / (time.perf_counter() - start))
            _add_cpu(cpu["spark"], before, _cpu_seconds(), n * repeats)
        got = scored.select("item_id", "score").toPandas().sort_values("item_id")
        source.unpersist()
    # item_id is the row number: the scores line up after the sort.
    diff = float(np.max(np.abs(got["score"].to_numpy() - expected)))
    return {"cores": cores, "single": statistics.median(single),
            "spark": statistics.median(distributed), "max_diff": diff, "cpu": cpu,
            "pairs": [d / s for s, d in zip(single, distributed, strict=True)]}


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
    X = feature_matrix(add_request_features(rows(100, seed=3)), FEATURES)
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
    print(f"\nbatch scoring of {args.rows:,} rows on {tp['cores']} cores (median of "
          f"{args.repeats}, alternating):")
    print(f"  single process (pandas features + inplace_predict nthread={tp['cores']}) "
          f"{tp['single']:>10,.0f} rows/s")
    print(f"  Spark score_rows ({tp['cores']} tasks x nthread=1, cached rows -> noop)  "
          f"{tp['spark']:>10,.0f} rows/s")
    print(f"  ratio Spark / single process{'':<33}{tp['spark'] / tp['single']:>10.2f}x")
    print(f"  ratio per alternating pair: {', '.join(f'{r:.2f}' for r in tp['pairs'])}")
    print(f"  max |Spark score - single-process score| = {tp['max_diff']:.3g}")
    for side, used in tp["cpu"].items():
        parts = ", ".join(f"{kind} {us:.2f}" for kind, us in used.items() if us >= 0.01)
        print(f"  CPU per row, {side}: {sum(used.values()):.2f} us ({parts})")
    if tp["max_diff"] > 1e-5:
        raise SystemExit("the two sides scored the rows differently: the comparison is void")


if __name__ == "__main__":
    main()
