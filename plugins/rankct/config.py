"""Typed configuration in layers: defaults in code, a profile file, environment overrides.

The profile is chosen by ``RANKCT_PROFILE`` (``local`` by default) and read from
``<repo>/config/<profile>.yaml`` or the file named by ``RANKCT_CONFIG``. Any field can be overridden
from the environment with ``RANKCT__SECTION__FIELD=value`` (double underscores), e.g.
``RANKCT__QUALITY__VOLUME_BAND_LOW=0.3``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from rankct.errors import ConfigError
from rankct.gcp.settings import GcpConfig
from rankct.objectives import OBJECTIVES

REPO_ROOT = Path(__file__).resolve().parents[2]


class SparkConfig(BaseModel):
    """Where Spark runs. With ``remote`` (``sc://host:port``) every task and job of a run
    attaches to that server; ``rankct run`` / ``make ui`` start one on the local profile."""

    master: str = "local[*]"
    driver_memory: str = "4g"
    max_result_size: str = "3g"  # one collect (a whole training set); Spark's 1g is too small
    shuffle_partitions: int = 8
    ui_enabled: bool = False
    remote: str | None = None
    connect_port: int = Field(15002, ge=1, le=65535)  # of the server rankct starts locally


class LabelConfig(BaseModel):
    """How events become graded relevance labels."""

    grades: dict[str, int] = Field(default_factory=lambda: {
        "purchase": 3, "add_to_cart": 2, "favourite": 2, "click": 1})
    attribution_window_minutes: int = 120


class QualityConfig(BaseModel):
    """Thresholds of data gate 1; rates are fractions of the partition's rows."""

    max_null_rate_required: float = 0.0
    max_null_rate_position: float = 0.05
    max_duplicate_rate: float = 0.0
    max_orphan_rate: float = 0.0
    max_event_time_violation_rate: float = 0.0
    max_shown_after_sale_rate: float = 0.0
    volume_band_low: float = 0.5
    volume_band_high: float = 2.0
    volume_history_days: int = 7
    volume_min_history_days: int = 3
    report_sample_rows: int = 50_000


class TrainingSplitConfig(BaseModel):
    """How a training frame is cut by request time into train / validation / test.

    ``by="days"``: ``valid`` and ``test`` count UTC calendar days of request time, the latest days
    are test and the days before them validation. ``by="fraction"``: shares of the requests
    ordered by time (for short ranges). A request is never cut in two either way.
    """

    by: Literal["days", "fraction"] = "days"
    valid: float = Field(1, gt=0)
    test: float = Field(1, gt=0)

    @model_validator(mode="after")
    def _sizes(self) -> TrainingSplitConfig:
        if self.by == "days" and not (float(self.valid).is_integer()
                                      and float(self.test).is_integer()):
            raise ValueError("split.by=days takes whole numbers of days for valid and test")
        if self.by == "fraction" and self.valid + self.test >= 1:
            raise ValueError("split.by=fraction needs valid + test < 1 (the rest is train)")
        return self


class TrainingConfig(BaseModel):
    """The XGBoost ranker: objective, tree parameters, early stopping, split and search budget."""

    objective: Literal[OBJECTIVES] = "click_model"
    eta: float = Field(0.05, gt=0, le=1)
    max_depth: int = Field(5, ge=1, le=16)
    min_child_weight: float = Field(10.0, ge=0)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    reg_alpha: float = Field(0.0, ge=0)
    max_bin: int = Field(256, ge=2)
    # Pairs are built for the top k documents of each list ("topk"): NDCG@10 is what we measure.
    num_pair_per_sample: int = Field(10, ge=1)
    bias_norm: float = Field(0.5, gt=0)  # lambdarank_bias_norm, unbiased objective only
    num_boost_round: int = Field(500, ge=1)
    early_stopping_rounds: int = Field(30, ge=1)
    seed: int = 0
    nthread: int = Field(0, ge=0)  # 0: all cores; the same data, seed and nthread give same bytes
    split: TrainingSplitConfig = Field(default_factory=TrainingSplitConfig)
    search_trials: int = Field(0, ge=0)  # random-search trials before the final fit (0: none)
    search_seconds: float | None = Field(None, gt=0)  # and/or a wall-clock budget


class NotifyConfig(BaseModel):
    """The deployment webhook: where promotions are announced and how hard to try."""

    url: str | None = None  # None: no notification is sent (recorded as skipped)
    secret_env: str = "RANKCT_WEBHOOK_SECRET"  # env var holding the HMAC-SHA256 key
    timeout_seconds: float = Field(10.0, gt=0)
    retries: int = Field(3, ge=0)  # attempts after the first one
    backoff_seconds: float = Field(1.0, ge=0)  # doubled after each failed attempt


class MlflowConfig(BaseModel):
    """Where runs and registered models live. URIs may name environment variables as ``${VAR}`` or
    ``${VAR:-default}``, expanded when the store is opened (so secrets stay in the environment)."""

    tracking_uri: str | None = None  # None: sqlite:///<home>/mlflow/mlflow.db
    registry_uri: str | None = None  # None: the tracking URI
    artifact_root: str | None = None  # None: <home>/mlflow/artifacts (new experiments only)
    experiment: str = "rankct"
    registered_model: str = "marketplace_ranker"
    reference_sample_rows: int = Field(20_000, ge=100)  # training rows kept for data gate 2
    # A store that does not answer (locked, restarting) is tried this often, waiting
    # retry_backoff_seconds doubled after each try, before the task fails (and Airflow retries).
    retry_attempts: int = Field(3, ge=1)
    retry_backoff_seconds: float = Field(1.0, ge=0)
    lock_timeout_seconds: float = Field(60.0, gt=0)  # wait for another alias change to finish


class GateConfig(BaseModel):
    """Data gate 2 and the champion/challenger model gate. Metrics are rankct's (NDCG@k etc.)."""

    k: int = Field(10, ge=1)  # the NDCG cut-off judged, and the top-k of churn
    min_ndcg: float = Field(0.3, ge=0, le=1)  # absolute floor on the challenger's NDCG@k
    alpha: float = Field(0.05, gt=0, lt=1)  # 1 - confidence of the paired interval
    max_regression: float = Field(0.0, ge=0)  # tolerated drop of mean NDCG@k vs the champion
    min_gain: float | None = None  # if set, the gain's lower bound must exceed it
    test_method: Literal["randomization", "bootstrap"] = "randomization"
    n_resamples: int = Field(10_000, ge=100)
    seed: int = 0
    max_churn: float = Field(0.8, ge=0, le=1)  # 1 - mean top-k overlap with the champion
    slice_floors: dict[str, float] = Field(default_factory=dict)  # "surface" or "surface=search"
    min_slice_requests: int = Field(50, ge=1)  # smaller slices are reported, not judged
    require_parity: bool = True  # an ONNX parity report must be given and pass
    # The logged (production) ranking as a baseline, both scored by debiased DCG@k:
    baseline_margin: float = Field(0.0, ge=0, le=1)  # tolerated relative deficit against it
    baseline_clip: float = Field(0.1, gt=0, le=1)  # propensity floor of the weights
    max_drift_share: float = Field(0.5, gt=0, le=1)  # drifted share of feature columns
    label_rate_low: float = Field(0.01, ge=0, le=1)  # share of impressions with grade > 0
    label_rate_high: float = Field(0.5, ge=0, le=1)
    drift_sample_rows: int = Field(20_000, ge=100)  # rows per side in the drift test

    @model_validator(mode="after")
    def _ordered_band(self) -> GateConfig:
        if self.label_rate_low > self.label_rate_high:
            raise ValueError(f"label_rate_low {self.label_rate_low} exceeds label_rate_high "
                             f"{self.label_rate_high}")
        return self


class PipelineConfig(BaseModel):
    """The daily training run: how much history it trains on and what it keeps for serving."""

    train_window_days: int = Field(7, ge=3)  # labelled days in a training set, ending on the run day
    min_history_days: int = Field(3, ge=3)  # fewer days of raw data: warm-up, no training
    golden_requests: int = Field(64, ge=1)  # held-out requests in the ONNX parity proof
    # A larger window is sampled by request (hash of the id) down to about this many requests:
    # the training set is collected into the driver (60k requests: ~1.2M rows, ~0.5 GB).
    max_training_requests: int = Field(60_000, ge=1_000)
    # Keep each day's joined rows (rankct.training_slices) and join only the days whose inputs
    # changed: the same training set, without joining the whole window again every day.
    reuse_training_slices: bool = True


class MonitoringConfig(BaseModel):
    """The daily monitoring checks: how stale and how drifted things may get before an alert."""

    max_raw_lag_days: int = Field(1, ge=0)  # newest raw partition may be this many days old
    max_feature_lag_days: int = Field(1, ge=0)  # newest feature tables / online store
    max_champion_age_days: int = Field(7, ge=1)  # days since the champion's newest training day
    drift_reference_days: int = Field(3, ge=1)  # compare with the newest tables up to N days back
    max_feature_drift_share: float = Field(0.5, gt=0, le=1)
    max_score_drift: float = Field(0.2, gt=0)  # Wasserstein distance of scores, in score std units
    skew_sample_entities: int = Field(200, ge=1)


class AlertConfig(BaseModel):
    """Where failed tasks and checks are announced, beside the record under ``<home>/alerts``."""

    url: str | None = None  # a webhook (Slack, PagerDuty relay, ...); None: records only
    secret_env: str = "RANKCT_ALERT_SECRET"  # HMAC-SHA256 key for the signature, if set
    timeout_seconds: float = Field(5.0, gt=0)


class UiConfig(BaseModel):
    """Base URLs of the three UIs, used in the links Airflow shows on each task."""
    airflow_url: str = "http://localhost:8080"
    mlflow_url: str = "http://localhost:5000"
    evidently_url: str = "http://localhost:8000"


class RankctConfig(BaseModel):
    profile: str = "local"
    home: Path = Field(default_factory=lambda: REPO_ROOT / "var")
    spark: SparkConfig = Field(default_factory=SparkConfig)
    labels: LabelConfig = Field(default_factory=LabelConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    alerts: AlertConfig = Field(default_factory=AlertConfig)
    ui: UiConfig = Field(default_factory=UiConfig)
    gcp: GcpConfig = Field(default_factory=GcpConfig)
    # Per-run settings on top of the profile (rankct.overrides), recorded with what they made.
    run_overrides: dict[str, Any] = Field(default_factory=dict)

    @property
    def data_root(self) -> Path:
        """Where raw contract tables live (``<home>/data``)."""
        return self.home / "data"

    @property
    def reports_dir(self) -> Path:  # data gates' verdicts, Evidently reports
        return self.home / "reports"


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith("RANKCT__"):
            continue
        path = key[len("RANKCT__"):].lower().split("__")
        node = overrides
        for part in path[:-1]:
            node = node.setdefault(part, {})
        # YAML parsing turns "0.3" into a float and "true" into a bool, as in the profile files.
        node[path[-1]] = yaml.safe_load(raw)
    return overrides


def with_overrides(config: RankctConfig, overrides: dict[str, Any]) -> RankctConfig:
    """A copy of ``config`` with dotted-path overrides applied and validated, e.g.
    ``{"gate.max_drift_share": 0.7, "training.objective": "rank:pairwise"}`` (a DAG run's params).
    """
    values = config.model_dump()
    for dotted, value in overrides.items():
        node = values
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"override {dotted!r}: {part!r} is not a configuration section")
            node = node[part]
        if leaf not in node:
            raise ConfigError(f"override {dotted!r}: no such setting",
                              hint="see the configuration table in README.md")
        node[leaf] = value
    try:
        return RankctConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(f"invalid override {overrides}:\n{exc}") from None


def load_config(profile: str | None = None, environ: dict[str, str] | None = None) -> RankctConfig:
    """Build the configuration for ``profile`` from defaults, profile file and environment."""
    environ = dict(os.environ if environ is None else environ)
    profile = profile or environ.get("RANKCT_PROFILE", "local")
    path = Path(environ.get("RANKCT_CONFIG", REPO_ROOT / "config" / f"{profile}.yaml"))
    values: dict[str, Any] = {"profile": profile}
    if path.exists():
        try:
            values = _deep_merge(values, yaml.safe_load(path.read_text()) or {})
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    elif "RANKCT_CONFIG" in environ:
        raise ConfigError(f"RANKCT_CONFIG names {path}, which does not exist")
    values = _deep_merge(values, _env_overrides(environ))
    if environ.get("RANKCT_HOME"):
        values["home"] = environ["RANKCT_HOME"]
    try:
        return RankctConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration (profile {profile}, file {path}):\n{exc}") from None
