"""Typed configuration in layers: defaults in code, a profile file, environment overrides.

The profile is chosen by ``RANKCT_PROFILE`` (``local`` by default) and read from
``<repo>/config/<profile>.yaml`` or the file named by ``RANKCT_CONFIG``. Any field can be overridden
from the environment with ``RANKCT__SECTION__FIELD=value`` (double underscores), e.g.
``RANKCT__QUALITY__VOLUME_BAND_LOW=0.3``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from rankct.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]


class SparkConfig(BaseModel):
    master: str = "local[*]"
    driver_memory: str = "4g"
    shuffle_partitions: int = 8
    ui_enabled: bool = False


class LabelConfig(BaseModel):
    """How events become graded relevance labels."""

    grades: dict[str, int] = Field(
        default_factory=lambda: {"purchase": 3, "add_to_cart": 2, "favourite": 2, "click": 1}
    )
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


class RankctConfig(BaseModel):
    profile: str = "local"
    home: Path = Field(default_factory=lambda: REPO_ROOT / "var")
    spark: SparkConfig = Field(default_factory=SparkConfig)
    labels: LabelConfig = Field(default_factory=LabelConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)

    @property
    def data_root(self) -> Path:
        """Where raw contract tables live (``<home>/data``)."""
        return self.home / "data"

    @property
    def reports_dir(self) -> Path:
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
