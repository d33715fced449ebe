"""Per-run overrides (the training DAG's params): which settings a trigger may change, and the
record of what it changed.

Whoever can trigger a DAG run is not thereby allowed to loosen the gate, redirect the
deployment webhook or point the run at another registry: a run may change only the settings of
:data:`ALLOWED` (how the ranker is trained and how long the search may take). Everything else
changes through the profile file or the environment, which take a deployment to change. The
applied overrides travel with the configuration (``RankctConfig.run_overrides``) and are
recorded in the version's MLflow run and in the gate's decision record.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from rankct.config import RankctConfig, with_overrides
from rankct.errors import ConfigError

# Dotted paths (fnmatch patterns) a single run may override.
ALLOWED: tuple[str, ...] = (
    "training.objective", "training.eta", "training.max_depth", "training.min_child_weight",
    "training.subsample", "training.colsample_bytree", "training.reg_lambda",
    "training.reg_alpha", "training.max_bin", "training.num_pair_per_sample",
    "training.bias_norm", "training.num_boost_round", "training.early_stopping_rounds",
    "training.seed", "training.nthread", "training.search_trials", "training.search_seconds",
)


def refused(overrides: dict[str, Any]) -> list[str]:
    """The dotted paths of ``overrides`` a run may not change."""
    return sorted(key for key in overrides
                  if not any(fnmatchcase(key, pattern) for pattern in ALLOWED))


def apply_run_overrides(config: RankctConfig, overrides: dict[str, Any]) -> RankctConfig:
    """``config`` with a run's overrides applied, validated and recorded; a
    :class:`ConfigError` naming every setting outside :data:`ALLOWED`."""
    if not overrides:
        return config
    denied = refused(overrides)
    if denied:
        raise ConfigError(
            f"a run may not override {', '.join(denied)}: per-run overrides are limited to "
            "training parameters and the search budget",
            hint="change gate, notification and store settings in the profile "
                 "(config/<profile>.yaml) or the environment (RANKCT__SECTION__FIELD); "
                 f"allowed per run: {', '.join(ALLOWED)}")
    updated = with_overrides(config, overrides)
    updated.run_overrides = {**config.run_overrides, **overrides}
    return updated
