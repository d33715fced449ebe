"""Per-run overrides: training parameters and the search budget only, validated, and carried
with the configuration so the run's outputs can record them."""

from __future__ import annotations

import pytest
from rankct.config import load_config
from rankct.errors import ConfigError
from rankct.overrides import apply_run_overrides, refused


@pytest.fixture
def cfg(tmp_path):
    return load_config("local", environ={"RANKCT_HOME": str(tmp_path)})


def test_training_settings_may_change_for_one_run_and_are_recorded(cfg) -> None:
    changed = apply_run_overrides(cfg, {"training.eta": 0.05, "training.search_trials": 4})
    assert (changed.training.eta, changed.training.search_trials) == (0.05, 4)
    assert changed.run_overrides == {"training.eta": 0.05, "training.search_trials": 4}
    assert cfg.run_overrides == {} and apply_run_overrides(cfg, {}) is cfg


@pytest.mark.parametrize("key", ["gate.min_ndcg", "gate.max_drift_share", "notify.url",
                                 "mlflow.tracking_uri", "training.split.test", "run_overrides",
                                 "pipeline.train_window_days"])
def test_the_gate_the_webhook_and_the_stores_cannot_be_overridden(cfg, key) -> None:
    assert refused({key: 1}) == [key]
    with pytest.raises(ConfigError, match=f"a run may not override {key}"):
        apply_run_overrides(cfg, {key: 1, "training.eta": 0.05})


def test_an_allowed_override_is_still_validated(cfg) -> None:
    with pytest.raises(ConfigError, match="less than or equal to 1"):
        apply_run_overrides(cfg, {"training.eta": 7})
