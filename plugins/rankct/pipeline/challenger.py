"""Stages that make a challenger: data gate 2 on the training set, then train and register."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from rankct.config import RankctConfig
from rankct.errors import DataGateFailed
from rankct.pipeline.day import DayRun
from rankct.pipeline.outcome import Outcome


def load_training_set(run: DayRun) -> tuple[pd.DataFrame, list[str]]:
    """The day's training set and its model feature columns, as the training_set stage wrote."""
    summary = run.read("training_set")
    return pd.read_parquet(run.training_set), summary["features"]


def validate_training_set(config: RankctConfig, day: date) -> dict[str, Any]:
    """Data gate 2: drift against the champion's training sample and the label-rate band.

    Raises :class:`DataGateFailed` naming the failed checks; nothing is trained then.
    """
    from rankct.gates.data_gate2 import data_gate2
    from rankct.registry import champion_version, load_training_sample, open_store

    run = DayRun(config, day)
    frame, features = load_training_set(run)
    store = open_store(config)
    champion = champion_version(store)
    reference = load_training_sample(store, champion) if champion else None
    verdict = data_gate2(frame, reference, features, config.gate,
                         config.reports_dir / "data_gate_2" / f"dt={day.isoformat()}",
                         facts={"day": day.isoformat(), "champion": champion or "none"})
    report_url = None
    if verdict.extra.get("drift_report"):
        from rankct.reports.evidently_io import snapshot_path
        from rankct.reports.workspace import add_report

        report_url = add_report(config, snapshot_path(verdict.extra["drift_report"]),
                                "training_data", name=f"training set {day}").url
    summary = run.write("validate_training_set", {**verdict.as_dict(), "champion": champion,
                                                  "report_url": report_url})
    if not verdict.passed:
        run.record_outcome(Outcome.STOPPED_DATA_GATE_2, "; ".join(verdict.reasons))
        raise DataGateFailed(f"data gate 2 stopped the training set of {day}: "
                             + "; ".join(verdict.reasons),
                             hint="inspect the drift report; if the shift is real, raise "
                                  "gate.max_drift_share in the profile (or "
                                  "RANKCT__GATE__MAX_DRIFT_SHARE) and run the day again")
    return summary


def train_challenger(config: RankctConfig, day: date,
                     airflow_run_id: str | None = None) -> dict[str, Any]:
    """Split the training set by time, train, and register the model as the ``challenger``."""
    from rankct.evaluation.slices import slice_metrics, standard_slices
    from rankct.registry import log_training_run, open_store
    from rankct.registry.urls import run_url
    from rankct.training.run import score_frame, train_and_test
    from rankct.training.split import split_by_time

    run = DayRun(config, day)
    frame, features = load_training_set(run)
    split = split_by_time(frame, config.training.split)
    outcome = train_and_test(split.train, split.valid, split.test, features, config.training)
    scored = split.test.assign(score=score_frame(outcome.ranker, split.test)["score"].to_numpy())
    slices = slice_metrics(scored, standard_slices(scored))
    metrics = {**{f"test_{k}": v for k, v in outcome.test_metrics.as_dict().items()},
               **{f"valid_{k}": v for k, v in outcome.valid_metrics.as_dict().items()},
               "train_seconds": outcome.seconds, "best_iteration": outcome.ranker.best_iteration}
    days = run.read("training_set")["days"]
    # The whole set, not the train split: it is what the fingerprint names and what the next
    # day's data gate 2 compares with.
    store = open_store(config)
    registered = log_training_run(
        store, outcome.ranker.booster, frame, feature_names=features,
        params=outcome.ranker.params, metrics=metrics,
        data_interval=(date.fromisoformat(days[0]), date.fromisoformat(days[-1])),
        slice_table=slices, airflow_run_id=airflow_run_id, run_name=f"train {day}",
        run_overrides=config.run_overrides)
    return run.write("train", {
        "version": registered.version, "run_id": registered.run_id,
        "model_uri": registered.model_uri, "mlflow_url": run_url(config, store, registered.run_id),
        "test_ndcg@10": outcome.test_metrics.ndcg[10],
        "split": {name: {k: str(v) for k, v in part.items()}
                  for name, part in split.describe().items()},
        "train_seconds": round(outcome.seconds, 2)})
