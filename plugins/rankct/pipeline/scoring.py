"""The batch-scoring run's stages around the Spark job: pick the champion and hand its files to
the job, then check and record what the job wrote."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from rankct.config import RankctConfig
from rankct.errors import RankctError
from rankct.io import write_json_atomic


def scoring_record(config: RankctConfig, day: date) -> Path:
    """``<home>/runs/scoring/dt=D.json``: which model scored the day, and what it wrote."""
    return config.home / "runs" / "scoring" / f"dt={day.isoformat()}.json"


def prepare_scoring(config: RankctConfig, day: date) -> dict[str, Any]:
    """The champion's booster file (written once per version) and its exported ONNX model, for
    ``jobs/batch_score.py``; fails when there is no champion or its export is missing."""
    from rankct.registry import champion_version, load_booster, open_store
    from rankct.registry.urls import version_url

    store = open_store(config)
    version = champion_version(store)
    if version is None:
        raise RankctError("no champion to score with",
                          hint="run the training DAG until a challenger passes the model gate")
    onnx = config.home / "exports" / store.model_name / version / "model.onnx"
    if not onnx.exists():
        raise RankctError(f"champion v{version} has no exported ONNX model ({onnx})",
                          hint="re-run the export task of the training run that promoted it")
    model = config.home / "scoring" / "models" / f"v{version}" / "model.ubj"
    if not model.exists():
        model.parent.mkdir(parents=True, exist_ok=True)
        tmp = model.with_suffix(".tmp.ubj")
        load_booster(store, version).save_model(str(tmp))
        tmp.replace(model)  # a version's file never changes once written
    return {"day": day.isoformat(), "version": version, "model": str(model), "onnx": str(onnx),
            "out": str(config.data_root / "recommendations"),
            "mlflow_url": version_url(config, store.model_name, version)}


def record_scores(config: RankctConfig, day: date, version: str | None = None) -> dict[str, Any]:
    """Check the day's recommendations partition and record who scored it and how the scores
    are spread (the reference of the monitoring's score-drift check)."""
    import numpy as np
    import pyarrow.parquet as pq

    from rankct.contract import SUCCESS_MARKER

    path = config.data_root / "recommendations" / f"dt={day.isoformat()}"
    if not (path / SUCCESS_MARKER).exists():
        raise RankctError(f"no recommendations for {day} ({path})",
                          hint="the scoring job did not publish: look at its task log")
    table = pq.read_table(path, columns=["user_id", "rank", "item_id", "score"])
    if table.num_rows == 0:
        raise RankctError(f"the recommendations of {day} are empty ({path})",
                          hint="no active users or no candidates: check the feature tables")
    frame = table.to_pandas()
    duplicated = int(frame.duplicated(["user_id", "item_id"]).sum())
    if duplicated:
        raise RankctError(f"the recommendations of {day} list {duplicated} item(s) twice for "
                          "the same user", hint="re-run the scoring job; report it if it stays")
    scores = frame["score"].to_numpy()
    summary = {"day": day.isoformat(), "version": version, "path": str(path),
               "users": int(frame["user_id"].nunique()), "rows": len(frame),
               "score": {"mean": float(scores.mean()), "std": float(scores.std()),
                         **{f"p{q}": float(np.percentile(scores, q)) for q in (1, 50, 99)}}}
    write_json_atomic(scoring_record(config, day), summary)
    return summary


def scored_days(config: RankctConfig) -> list[dict[str, Any]]:
    """Every recorded scoring run, oldest first."""
    folder = config.home / "runs" / "scoring"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("dt=*.json"))]
