"""Trainer figures on the simulator: fit time and test NDCG@10 of rankct's XGBoost ranker against
LightGBM's lambdarank on the same split, the true-utility oracle (the ceiling) and the logging
policy (the order users were shown), in one run; then the studies of ``train_studies.py``:
the feature ablation, NDCG@10 against training-set size, and the model gate's debiased
estimate against the truth.

Usage: python bench/train.py [--scale medium] [--days 14] [--sample F] [--skip-days 2]
       [--no-studies]

Pipeline: simulate -> Spark feature tables for every day -> feast apply -> point-in-time training
set of days skip+1..N (the first days have no feature history: day 1 sees no features at all) ->
time split by request (last day test, the day before validation) -> fits -> metrics.

Every ranking is scored on the same test requests against the simulator's hidden
``grade_if_examined`` (what the user would have done had they looked at the item: labels free of
position bias), and also against the logged grades, which reward the logging policy for the
positions it chose. The simulator's logging policy sees a noisy view of the true utility that no
feature carries, so it is a strong baseline here, not a floor; random order is the floor. ``--sample`` keeps that share of the requests (by a hash of the request id)
before the feature join, so the medium scale fits 2 cores and 24 GB; it is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SAMPLE = {"tiny": 1.0, "small": 1.0, "medium": 0.1, "large": 0.01}


def _say(started: float, text: str) -> None:
    print(f"[{time.perf_counter() - started:6.1f}s] {text}", file=sys.stderr, flush=True)


def fit_lightgbm(train: pd.DataFrame, valid: pd.DataFrame, features: list[str],
                 config) -> tuple[object, int]:
    """LightGBM lambdarank with settings matched to ours (rate, ~leaves, sampling, stopping)."""
    import lightgbm as lgb
    from rankct.training.trainer import feature_matrix, ranking_lists

    def dataset(frame: pd.DataFrame, reference=None):
        frame = ranking_lists(frame)
        sizes = frame.groupby("request_id", sort=False).size().to_numpy()
        return lgb.Dataset(feature_matrix(frame, features), frame["grade"].to_numpy(),
                           group=sizes, feature_name=features, reference=reference)

    params = {"objective": "lambdarank", "metric": "ndcg", "eval_at": [10],
              "learning_rate": config.eta, "num_leaves": 2 ** config.max_depth - 1,
              "min_sum_hessian_in_leaf": config.min_child_weight,
              "bagging_fraction": config.subsample, "bagging_freq": 1,
              "feature_fraction": config.colsample_bytree, "lambda_l2": config.reg_lambda,
              "max_bin": config.max_bin, "seed": config.seed, "deterministic": True,
              "num_threads": config.nthread or os.cpu_count(), "verbose": -1}
    dtrain = dataset(train)
    booster = lgb.train(params, dtrain, num_boost_round=config.num_boost_round,
                        valid_sets=[dataset(valid, dtrain)],
                        callbacks=[lgb.early_stopping(config.early_stopping_rounds,
                                                      verbose=False)])
    return booster, booster.best_iteration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="medium", choices=list(DEFAULT_SAMPLE))
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--skip-days", type=int, default=2,
                        help="first days left out of the training set (no feature history)")
    parser.add_argument("--sample", type=float, help="share of requests kept (default by scale)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--objectives", nargs="+",
                        default=["click_model", "rank:ndcg", "lambdarank_unbiased"])
    parser.add_argument("--no-studies", action="store_true",
                        help="skip the ablation, the size curve and the estimator table")
    parser.add_argument("--home", type=Path, help="state folder (default: a temporary one)")
    parser.add_argument("--nthread", type=int, default=1,
                        help="threads per fit, both libraries (default 1: on a shared machine "
                             "OpenMP threads wait on each other; 0 = all cores)")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse what an earlier run with the same --home left there: its "
                             "training set, else its simulated days and feature tables")
    args = parser.parse_args()
    sample = DEFAULT_SAMPLE[args.scale] if args.sample is None else args.sample
    if args.days < args.skip_days + 3:
        parser.error("--days must leave at least 3 days after --skip-days (train, valid, test)")

    home = args.home or Path(tempfile.mkdtemp(prefix="rankct-bench-train-"))
    os.environ["RANKCT_HOME"] = str(home)
    from rankct.config import load_config
    from rankct.contract import SUCCESS_MARKER, truth_path
    from rankct.evaluation.metrics import evaluate
    from rankct.features.build import build_range
    from rankct.online.feast_repo import feast_cli, feature_store
    from rankct.online.retrieval import model_columns
    from rankct.simulate import simulate
    from rankct.simulate.run import DEFAULT_START
    from rankct.spark import get_spark
    from rankct.training.split import split_by_time
    from rankct.training.trainer import feature_matrix, train_ranker

    config = load_config("local")
    config.training = config.training.model_copy(update={"nthread": args.nthread})
    started = time.perf_counter()
    first, last = DEFAULT_START, DEFAULT_START + timedelta(days=args.days - 1)
    reused = False
    cached = home / f"training_set_{args.scale}_{args.days}d_{args.skip_days}_{sample}.parquet"
    if args.reuse and cached.exists():
        _say(started, f"reusing {cached}")
        frame, reused = pd.read_parquet(cached), True
    else:
        from rankct.features.build import FeaturePaths
        from rankct.training_set import training_set

        spark = get_spark(config.spark)
        built = [FeaturePaths(config.data_root).table("item_features", first + timedelta(days=i))
                 / SUCCESS_MARKER for i in range(args.days)]
        if args.reuse and all(path.exists() for path in built):
            # A run that failed after its feature build (at medium, half an hour) left them.
            _say(started, f"reusing the simulated days and feature tables under {home}")
        else:
            _say(started, f"simulating {args.days} days ({args.scale}) under {home}")
            simulate(config.data_root, days=args.days, scale=args.scale, seed=args.seed)
            _say(started, "building feature tables")
            build_range(spark, config.data_root, first, last, config)
        feast_cli(config, "apply")
        _say(started, f"training set {first + timedelta(days=args.skip_days)}..{last} "
                      f"({sample:.0%} of requests)")
        frame = training_set(spark, config.data_root, first + timedelta(days=args.skip_days),
                             last, config, share=sample)
        frame.to_parquet(cached, index=False)
    features = model_columns(feature_store(config))
    prepared = time.perf_counter() - started
    split = split_by_time(frame, config.training.split)
    del frame
    test_days = split.test["event_timestamp"].dt.date.unique()
    truth = pd.concat([pd.read_parquet(truth_path(config.data_root, d)) for d in test_days])
    test = split.test.merge(truth[["request_id", "item_id", "utility", "grade_if_examined"]],
                            on=["request_id", "item_id"], how="left", validate="one_to_one")
    if test["grade_if_examined"].isna().any():
        raise SystemExit("test impressions without a truth row: the simulation is incomplete")

    rows = []  # (name, fit seconds, trees, scores)
    for objective in args.objectives:
        _say(started, f"fitting xgboost {objective}")
        t = time.perf_counter()
        ranker = train_ranker(split.train, split.valid, features,
                              config.training.model_copy(update={"objective": objective}))
        rows.append((f"rankct xgboost {objective}", time.perf_counter() - t,
                     ranker.best_iteration + 1, ranker.predict(test)))
    _say(started, "fitting lightgbm lambdarank")
    t = time.perf_counter()
    booster, best = fit_lightgbm(split.train, split.valid, features, config.training)
    rows.append(("lightgbm lambdarank", time.perf_counter() - t, best,
                 booster.predict(feature_matrix(test, features), num_iteration=best)))
    rows.append(("oracle: true utility (ceiling)", None, None, test["utility"].to_numpy()))
    rows.append(("logging policy: logged positions", None, None,
                 -test["position"].to_numpy(dtype=float)))
    rows.append(("random order", None, None, np.random.default_rng(0).random(len(test))))

    info = split.describe()
    print(f"\nrankct training bench: {args.scale} scale, {args.days} days (seed {args.seed}), "
          f"days 1-{args.skip_days} left out (no feature history), "
          f"{'all' if sample >= 1 else f'{sample:.0%} of the'} requests, "
          f"{len(features)} features, {os.cpu_count()} cores, {args.nthread or 'all'} thread(s) "
          "per fit")
    for name, part in info.items():
        print(f"  {name:<5} {part['rows']:>10,} impressions {part['requests']:>8,} requests  "
              f"{part['from']:%Y-%m-%d}..{part['to']:%Y-%m-%d}")
    print(f"  data preparation (simulate, features, feast, training set): {prepared:.0f}s"
          + (" (training set reused)" if reused else ""))
    print(f"\n  {'ranking':<34} {'fit s':>7} {'trees':>6} {'NDCG@10 truth':>14} "
          f"{'NDCG@10 logged':>15}")
    for name, seconds, trees, scores in rows:
        scored = test.assign(score=scores)
        truth_ndcg = evaluate(scored, label="grade_if_examined").ndcg[10]
        logged_ndcg = evaluate(scored, label="grade").ndcg[10]
        fit = f"{seconds:7.1f}" if seconds is not None else f"{'-':>7}"
        print(f"  {name:<34} {fit} {trees if trees else '-':>6} {truth_ndcg:>14.4f} "
              f"{logged_ndcg:>15.4f}")
    excluded = evaluate(test.assign(score=0.0), label="grade_if_examined")
    print(f"  (truth: {excluded.n_requests:,} test requests with a relevant item, "
          f"{excluded.n_excluded_no_relevant:,} without; total {time.perf_counter() - started:.0f}s)")
    ndcg = {name: evaluate(test.assign(score=scores), label="grade_if_examined").ndcg[10]
            for name, _, _, scores in rows}
    oracle, logging = ndcg["oracle: true utility (ceiling)"], ndcg["logging policy: logged positions"]
    for name, _, _, _ in rows[:len(args.objectives) + 1]:
        print(f"  gap closed by {name}: (model - logging) / (oracle - logging) = "
              f"{(ndcg[name] - logging) / (oracle - logging):+.2f}")
    if args.no_studies:
        return
    import train_studies

    default = config.training.objective

    def fit(train: pd.DataFrame, columns: list[str]) -> np.ndarray:
        return train_ranker(train, split.valid, columns, config.training).predict(test)

    # At medium one fit takes minutes: the main table's fit of the default objective serves.
    model = rows[args.objectives.index(default)][3] if default in args.objectives else \
        fit(split.train, features)
    _say(started, f"ablation and training-set sizes ({default})")
    ablated = train_studies.ablation(fit, split.train, test, features, model)
    sizes = train_studies.size_curve(fit, split.train, test, features, model)
    logs = pd.concat([split.train, split.valid, split.test], ignore_index=True)
    estimates = train_studies.estimator_table(logs, test, {
        "logging policy": -test["position"].to_numpy(dtype=float),
        f"rankct xgboost {default}": model, "oracle: true utility": test["utility"].to_numpy(),
        "random order": np.random.default_rng(0).random(len(test))})
    train_studies.print_studies(ablated, sizes, estimates, default)


if __name__ == "__main__":
    main()
