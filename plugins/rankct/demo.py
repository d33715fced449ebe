"""The main job behind `make run`: simulate a small marketplace with one damaged day, then run
the daily training pipeline for every day in-process (data gate, features, online store,
training set, data gate 2, train, evaluate, model gate, export) and print what happened.

The Airflow DAGs run the same stages (rankct.pipeline); this path needs no scheduler.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from rankct.config import RankctConfig, load_config
from rankct.errors import DataGateFailed
from rankct.simulate import simulate
from rankct.simulate.run import DEFAULT_START

BAD_DAY = 10
BAD_FAULT = "events_before_impression"


@dataclass
class DayOutcome:
    day: date
    outcome: str  # warm-up | stopped at data gate 1 | stopped at data gate 2 | promoted | rejected
    detail: str = ""
    version: str | None = None


class _Clock:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def say(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f}s] {text}", file=sys.stderr, flush=True)


def _first_reason(failure: Exception) -> str:
    lines = [line.strip() for line in str(failure).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else lines[0]


def run_day(config: RankctConfig, day: date, spark: Any, clock: _Clock) -> DayOutcome:
    """Every stage of the training run of ``day``; an expected stop becomes the outcome."""
    from rankct.pipeline import challenger, decide, evaluate, prepare

    def stage(name: str, fn, *args):
        clock.say(f"{day}  {name}")
        return fn(config, day, *args)

    try:
        stage("data gate 1", prepare.validate_raw, spark)
    except DataGateFailed as failure:
        return DayOutcome(day, "stopped at data gate 1", _first_reason(failure))
    stage("features", prepare.build_features, spark)
    stage("materialize", prepare.materialize)
    if not prepare.has_enough_history(config, day):
        return DayOutcome(day, "warm-up", "not enough days with features to train yet")
    stage("training set", prepare.make_training_set, spark)
    try:
        stage("data gate 2", challenger.validate_training_set)
    except DataGateFailed as failure:
        return DayOutcome(day, "stopped at data gate 2", _first_reason(failure))
    trained = stage("train", challenger.train_challenger)
    stage("evaluate", evaluate.evaluate_challenger)
    decision = stage("model gate", decide.gate_challenger)
    if decision["passed"]:
        stage("export and notify", decide.ship_champion)
    detail = "; ".join(decision["reasons"]) if not decision["passed"] else (
        f"test NDCG@10 {trained['test_ndcg@10']:.4f}")
    return DayOutcome(day, decision["outcome"], detail, decision["version"])


def truth_ndcg(config: RankctConfig, day: date) -> dict[str, float]:
    """NDCG@10 on the simulator's hidden grades of ``day``'s test requests: the champion, the
    true-utility oracle (the ceiling) and the logging policy's order."""
    import pandas as pd

    from rankct.contract import truth_path
    from rankct.evaluation.metrics import evaluate
    from rankct.pipeline.challenger import load_training_set
    from rankct.pipeline.day import DayRun
    from rankct.pipeline.evaluate import model_scores
    from rankct.registry import load_booster, open_store
    from rankct.training.split import split_by_time

    frame, _ = load_training_set(DayRun(config, day))
    test = split_by_time(frame, config.training.split).test
    truth = pd.read_parquet(truth_path(config.data_root, day),
                            columns=["request_id", "item_id", "utility", "grade_if_examined"])
    test = test.merge(truth, on=["request_id", "item_id"], how="inner")
    scores = {"champion": model_scores(load_booster(open_store(config), "champion"), test,
                                       "champion"),
              "oracle": test["utility"].to_numpy(),
              "logging policy": -test["position"].to_numpy(dtype=float)}
    return {name: evaluate(test.assign(score=s), label="grade_if_examined").ndcg[10]
            for name, s in scores.items()}


def run_demo(days: int = 14, scale: str = "small", seed: int = 7) -> int:
    """Simulate ``days`` days (one of them damaged) under ``$RANKCT_HOME`` and run each."""
    from rankct.registry import champion_version, open_store
    from rankct.spark import get_spark

    config, clock = load_config(), _Clock()
    faults = {BAD_FAULT: str(BAD_DAY)} if days >= BAD_DAY else {}
    clock.say(f"simulating {days} days ({scale}) into {config.data_root}")
    simulate(config.data_root, days=days, scale=scale, seed=seed, faults=faults,
             progress=lambda d, n, e: clock.say(f"  {d}: {n:,} impressions"))
    clock.say(f"starting Spark ({config.spark.master})")
    spark = get_spark(config.spark)
    outcomes = [run_day(config, DEFAULT_START + timedelta(days=i), spark, clock)
                for i in range(days)]

    store = open_store(config)
    champion = champion_version(store)
    print(f"\nrankct demo: {days} days of a {scale} marketplace under {config.home}")
    for o in outcomes:
        version = f"v{o.version}" if o.version else "  "
        print(f"  {o.day}  {o.outcome:<24} {version:<4} {o.detail}")
    bad = DEFAULT_START + timedelta(days=BAD_DAY - 1)
    stopped = [o for o in outcomes if o.outcome.startswith("stopped at data gate 1")]
    if faults:
        print(f"\n  {bad} carried an injected fault ({BAD_FAULT}): "
              + ("stopped at the data gate, champion untouched." if any(o.day == bad for o in
                                                                         stopped)
                 else "NOT stopped - investigate."))
    trained = [o for o in outcomes if o.version]
    if champion and trained:
        figures = truth_ndcg(config, trained[-1].day)
        print(f"\n  champion: {store.model_name} v{champion}; NDCG@10 on the hidden truth of "
              f"{trained[-1].day}: " + ", ".join(f"{k} {v:.4f}" for k, v in figures.items()))
    print(f"\n  reports     {config.reports_dir}")
    print(f"  exports     {config.home / 'exports'}  (ONNX, Vespa, Triton)")
    print(f"  MLflow UI   .venv/bin/mlflow ui --backend-store-uri "
          f"sqlite:///{config.home / 'mlflow' / 'mlflow.db'}")
    print(f"  done in {time.perf_counter() - clock.started:.0f}s")
    unexpected = [o for o in stopped if o.day != bad]
    return 1 if unexpected or (faults and bad not in {o.day for o in stopped}) else 0
