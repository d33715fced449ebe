"""Evaluate the challenger beside the champion on the same held-out requests, prove ONNX parity,
and write the ranking-quality report. The gate stage reads what this one leaves."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from rankct.config import RankctConfig
from rankct.errors import RankctError
from rankct.io import write_json_atomic
from rankct.pipeline.challenger import load_training_set
from rankct.pipeline.day import DayRun

K = 10


def model_scores(booster: Any, frame: pd.DataFrame, who: str) -> np.ndarray:
    """Raw margins of ``frame``'s rows with the booster's own feature columns, in its order."""
    names = list(booster.feature_names or [])
    missing = [n for n in names if n not in frame.columns]
    if not names or missing:
        raise RankctError(f"the {who} needs feature columns {missing or '(unnamed)'} that the "
                          "evaluation set lacks",
                          hint="the feature repository changed: retrain or re-apply the old one")
    matrix = frame[names].to_numpy(dtype=np.float32, na_value=np.nan)
    return booster.inplace_predict(matrix, predict_type="margin", missing=np.nan)


def _parity(booster: Any, test: pd.DataFrame, config: RankctConfig) -> dict[str, Any]:
    """Export to ONNX in memory and compare with the booster on golden held-out requests."""
    from rankct.export.onnx_model import to_onnx
    from rankct.export.parity import check_parity, golden_set

    names = list(booster.feature_names)
    golden = golden_set(test, test["request_id"], feature_names=names,
                        n_requests=config.pipeline.golden_requests)
    model = to_onnx(booster, names)
    return check_parity(booster, model.SerializeToString(), golden.X, golden.request_ids,
                        names).as_dict()


def evaluate_challenger(config: RankctConfig, day: date) -> dict[str, Any]:
    """Score the test split with challenger and champion; per-request metrics, churn, slices,
    the position-debiased comparison with the logged ranking, ONNX parity and the side-by-side
    Evidently report."""
    from rankct.evaluation.baseline import logged_baseline
    from rankct.evaluation.comparison import ranking_churn
    from rankct.evaluation.metrics import per_request_metrics, summarize
    from rankct.evaluation.propensity import examination_curve
    from rankct.evaluation.slices import slice_metrics, standard_slices
    from rankct.registry import champion_version, load_booster, open_store, version_reports_dir
    from rankct.registry.urls import run_url, version_run_id
    from rankct.reports.ranking import ranking_report
    from rankct.reports.workspace import add_report
    from rankct.training.split import split_by_time

    run = DayRun(config, day)
    version = str(run.read("train")["version"])
    frame, _ = load_training_set(run)
    test = split_by_time(frame, config.training.split).test
    store = open_store(config)
    champion = champion_version(store)
    if champion == version:
        raise RankctError(f"version {version} is already the champion: nothing to evaluate",
                          hint="train a new challenger (re-run the train task)")
    booster = load_booster(store, version)
    scored = test.assign(challenger=model_scores(booster, test, "challenger"))
    models = {f"challenger v{version}": "challenger"}
    if champion is not None:
        scored["champion"] = model_scores(load_booster(store, champion), test, "champion")
        models[f"champion v{champion}"] = "champion"
    per_request = {name: per_request_metrics(scored, score=name, keep_unscored=True)
                   for name in models.values()}
    # Propensities from the whole window's logs: the more repeated (user, item) pairs, the
    # steadier the curve; the test requests alone are a seventh of them.
    curve, method = examination_curve(frame)
    baselines = {name: logged_baseline(scored, curve, method, name, k=K,
                                       clip=config.gate.baseline_clip)
                 for name in models.values()}
    slicings = standard_slices(scored)
    slices = {name: slice_metrics(scored, slicings, k=K, score=name) for name in models.values()}
    run.evaluation.mkdir(parents=True, exist_ok=True)
    for name, table in per_request.items():
        table.to_parquet(run.evaluation / f"per_request_{name}.parquet")
        slices[name].to_parquet(run.evaluation / f"slices_{name}.parquet", index=False)
    baselines["challenger"].save(run.evaluation)
    churn = (ranking_churn(scored, k=K).as_dict() if champion is not None else None)
    parity = _parity(booster, test, config)
    paths, _ = ranking_report(
        scored, version_reports_dir(config, "ranking", version), models=models, k=K,
        facts={"day": day.isoformat(), "test requests": f"{test['request_id'].nunique():,}"},
        slice_tables={f"{display} by slice": slices[name] for display, name in models.items()})
    report = add_report(config, paths.snapshot, "ranking_quality",
                        name=f"challenger v{version} vs "
                             f"{'champion v' + champion if champion else 'no champion'} ({day})")
    summary = {
        "version": version, "champion": champion,
        "metrics": {name: summarize(table).as_dict() for name, table in per_request.items()},
        "ipw_dcg@10": {**{name: b.means["model"] for name, b in baselines.items()},
                       "logging_policy": baselines["challenger"].means["logged"]},
        "propensity": {"method": baselines["challenger"].method,
                       "curve": baselines["challenger"].propensity},
        "churn": churn, "parity": parity,
        "report": str(paths.html), "report_json": str(paths.json), "report_url": report.url,
        "mlflow_url": run_url(config, store, version_run_id(store, version))}
    write_json_atomic(run.evaluation / "parity.json", parity)
    return run.write("evaluate", summary)
