"""Recording a training run in MLflow and registering its model as the new challenger."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rankct.config import REPO_ROOT, RankctConfig
from rankct.registry.store import (
    ALIAS_CHALLENGER,
    PENDING,
    TAG_AIRFLOW_RUN_ID,
    TAG_DATA_INTERVAL,
    TAG_DATASET_FINGERPRINT,
    TAG_FEATURE_SERVICE,
    TAG_GATE_DECISION,
    TAG_GIT_COMMIT,
    TAG_RUN_OVERRIDES,
    Store,
)

REFERENCE_SAMPLE = "data/training_sample.parquet"  # what data gate 2 compares the next set with


@dataclass(frozen=True)
class RegisteredVersion:
    """A registered model version and the run that produced it."""

    name: str
    version: str
    run_id: str
    model_uri: str
    dataset_fingerprint: str


def dataset_fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names, dtypes and rows, in order; index ignored.

    pandas' row hash uses a fixed key, so the same frame gives the same digest in any process.
    """
    digest = hashlib.sha256()
    for name, dtype in frame.dtypes.items():
        digest.update(f"{name}:{dtype};".encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def mlflow_key(name: str) -> str:
    """A metric or parameter name MLflow accepts ("ndcg@10" becomes "ndcg_at_10")."""
    return name.replace("@", "_at_")


def git_commit() -> str:
    """The checkout's commit (``RANKCT_GIT_COMMIT`` wins, for images without .git)."""
    if os.environ.get("RANKCT_GIT_COMMIT"):
        return os.environ["RANKCT_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], check=True,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


def importance_figure(booster: Any, top: int = 25) -> Any:
    """A bar chart of the features' total gain (matplotlib Figure, no global pyplot state)."""
    from matplotlib.figure import Figure

    gains = pd.Series(booster.get_score(importance_type="total_gain"), dtype=float)
    gains = gains.sort_values().tail(top)
    figure = Figure(figsize=(8, 0.3 * max(len(gains), 4) + 1.2), layout="constrained")
    axes = figure.subplots()
    axes.barh(gains.index.astype(str), gains.to_numpy())
    axes.set_xlabel("total gain over all splits")
    axes.set_title(f"Feature importance (top {len(gains)} by total gain)")
    return figure


def log_training_run(store: Store, booster: Any, train_frame: pd.DataFrame, *,
                     feature_names: list[str], params: dict[str, Any],
                     metrics: dict[str, float], data_interval: tuple[date, date],
                     feature_service: str = "ranker_v1", slice_table: pd.DataFrame | None = None,
                     airflow_run_id: str | None = None, commit: str | None = None,
                     label: str = "grade", reference_rows: int = 20_000,
                     run_name: str | None = None,
                     run_overrides: dict[str, Any] | None = None) -> RegisteredVersion:
    """Log a trained ranker and register it as a new version with alias ``challenger``.

    The run gets params, metrics ("ndcg@10" logged as "ndcg_at_10"), the feature list, a
    feature-importance plot, the per-slice table, a bounded sample of the training frame (the
    reference of data gate 2) and the model (xgboost flavour, signature, input example). The run
    and the version carry the registry tags, ``run_overrides`` among them (the per-run settings
    the DAG run changed, ``{}`` for none); gate decision starts as ``pending``.
    """
    import mlflow
    import xgboost as xgb
    from mlflow.models import infer_signature

    client = store.client
    fingerprint = dataset_fingerprint(train_frame)
    tags = {TAG_DATA_INTERVAL: f"{data_interval[0]}/{data_interval[1]}",
            TAG_DATASET_FINGERPRINT: fingerprint, TAG_FEATURE_SERVICE: feature_service,
            TAG_GIT_COMMIT: commit or git_commit(), TAG_AIRFLOW_RUN_ID: airflow_run_id or "manual",
            TAG_RUN_OVERRIDES: json.dumps(run_overrides or {}, sort_keys=True, default=str)}
    run = client.create_run(store.experiment_id(), run_name=run_name, tags=tags)
    run_id = run.info.run_id
    client.log_batch(run_id, params=_params(params, feature_names, train_frame, label),
                     metrics=_metrics(metrics))
    client.log_dict(run_id, {"features": list(feature_names)}, "features.json")
    client.log_figure(run_id, importance_figure(booster), "plots/feature_importance.png")
    if slice_table is not None:
        client.log_table(run_id, slice_table.rename(columns=mlflow_key), "slices.json")
    sample = _reference_sample(train_frame, feature_names, label, reference_rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(REFERENCE_SAMPLE).name
        sample.to_parquet(path, index=False)
        client.log_artifact(run_id, str(path), str(Path(REFERENCE_SAMPLE).parent))

    example = train_frame[feature_names].head(5).astype(np.float32)
    signature = infer_signature(example, booster.predict(xgb.DMatrix(example, missing=np.nan)))
    with store.activated(), mlflow.start_run(run_id=run_id), warnings.catch_warnings():
        # MLflow hints that integer labels cannot hold NaN; grades never are NaN.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        mlflow.log_input(mlflow.data.from_pandas(sample, name="training_sample", targets=label,
                                                 digest=fingerprint[:32]), context="training")
        # Explicit requirements: inferring them starts a Python subprocess (~10 s).
        info = mlflow.xgboost.log_model(booster, name="model", signature=signature,
                                        input_example=example,
                                        pip_requirements=[f"xgboost=={xgb.__version__}"])
    with store.activated():  # the registry resolves models:/<model id> through the tracking URI
        _ensure_registered_model(store)
        version = client.create_model_version(
            store.model_name, info.model_uri, run_id=run_id, model_id=info.model_id,
            tags={**tags, TAG_GATE_DECISION: PENDING},
            description=f"trained on {tags[TAG_DATA_INTERVAL]} ({len(train_frame):,} rows)")
    client.set_registered_model_alias(store.model_name, ALIAS_CHALLENGER, version.version)
    return RegisteredVersion(store.model_name, str(version.version), run_id,
                             f"models:/{store.model_name}/{version.version}", fingerprint)


def load_training_sample(store: Store, version: str) -> pd.DataFrame:
    """The training sample logged with ``version``'s run (the reference of data gate 2)."""
    run_id = store.client.get_model_version(store.model_name, version).run_id
    with tempfile.TemporaryDirectory() as tmp:
        path = store.client.download_artifacts(run_id, REFERENCE_SAMPLE, tmp)
        return pd.read_parquet(path)


def version_reports_dir(config: RankctConfig, kind: str, version: str) -> Path:
    """``<reports>/<kind>/<model>/v<version>``: where a version's reports and records live."""
    return config.reports_dir / kind / config.mlflow.registered_model / f"v{version}"


def log_files(store: Store, version: str, paths: list[Path], folder: str) -> None:
    """Attach files (reports, records) to the run of ``version`` under ``folder``."""
    run_id = store.client.get_model_version(store.model_name, str(version)).run_id
    for path in paths:
        store.client.log_artifact(run_id, str(path), folder)


def _ensure_registered_model(store: Store) -> None:
    from mlflow.exceptions import MlflowException

    try:
        store.client.get_registered_model(store.model_name)
    except MlflowException:
        store.client.create_registered_model(
            store.model_name, description="XGBoost ranker trained by rankct; aliases champion "
                                          "(serving), challenger (latest candidate)")


def _reference_sample(frame: pd.DataFrame, feature_names: list[str], label: str,
                      rows: int) -> pd.DataFrame:
    columns = list(feature_names) + ([label] if label in frame.columns else [])
    sample = frame[columns]
    return sample.sample(n=rows, random_state=0) if len(sample) > rows else sample


def _params(params: dict[str, Any], features: list[str], frame: pd.DataFrame,
            label: str) -> list[Any]:
    from mlflow.entities import Param

    values = {**params, "n_features": len(features), "n_rows": len(frame), "label": label}
    if "request_id" in frame.columns:
        values["n_requests"] = frame["request_id"].nunique()
    return [Param(mlflow_key(k), str(v)) for k, v in sorted(values.items())]


def _metrics(metrics: dict[str, float]) -> list[Any]:
    import time

    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    return [Metric(mlflow_key(k), float(v), stamp, 0) for k, v in sorted(metrics.items())]
