"""Configuration layers: defaults, profile file, environment overrides."""

from __future__ import annotations

import pytest
from rankct.config import load_config
from rankct.errors import ConfigError


def test_local_profile_defaults(tmp_path) -> None:
    cfg = load_config("local", environ={"RANKCT_HOME": str(tmp_path)})
    assert cfg.spark.master == "local[*]"
    assert cfg.home == tmp_path and cfg.data_root == tmp_path / "data"
    assert cfg.labels.grades["purchase"] == 3


def test_prod_profile_points_spark_at_a_cluster() -> None:
    assert load_config("prod", environ={}).spark.master.startswith("spark://")


def test_environment_overrides_a_nested_field() -> None:
    cfg = load_config("local", environ={"RANKCT__QUALITY__VOLUME_BAND_LOW": "0.3",
                                        "RANKCT__LABELS__ATTRIBUTION_WINDOW_MINUTES": "60"})
    assert cfg.quality.volume_band_low == 0.3
    assert cfg.labels.attribution_window_minutes == 60


def test_invalid_value_names_the_field() -> None:
    with pytest.raises(ConfigError, match="volume_band_low"):
        load_config("local", environ={"RANKCT__QUALITY__VOLUME_BAND_LOW": "lots"})


def test_missing_config_file_is_an_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(environ={"RANKCT_CONFIG": str(tmp_path / "nope.yaml")})
