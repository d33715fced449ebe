"""What a task needs from its DAG run: the day it works on and the configuration, with the
run's per-run overrides (DAG params) applied. Only training parameters and the search budget
may be overridden per run (:mod:`rankct.overrides`); gate thresholds, the webhook and the stores
come from the profile."""

from __future__ import annotations

from datetime import date
from typing import Any

from airflow.sdk import Param

from rankct.config import RankctConfig, load_config
from rankct.errors import RankctError
from rankct.objectives import OBJECTIVES
from rankct.overrides import ALLOWED, apply_run_overrides

# DAG params of the training DAG: typed fields in the trigger form, each mapped to the setting
# it overrides for that run only. ``overrides`` takes any other setting by its dotted path.
OVERRIDE_PARAMS: dict[str, tuple[str, Param]] = {
    "training_objective": ("training.objective", Param(
        None, type=["null", "string"],
        enum=[None, *OBJECTIVES],
        description="XGBoost ranking objective for this run (default: training.objective)")),
    "search_trials": ("training.search_trials", Param(
        None, type=["null", "integer"], minimum=0,
        description="random-search trials before the final fit (default: none)")),
}
OVERRIDES_PARAM = Param({}, type="object",
                        description='other training settings for this run, by dotted path: '
                                    '{"training.eta": 0.05, "training.max_depth": 8}; allowed: '
                                    + ", ".join(ALLOWED))


def training_params() -> dict[str, Param]:
    """The params of the training DAG (a fresh set per DAG: Param objects are not shared)."""
    params = {name: Param(p.value, **p.schema, description=p.description)
              for name, (_, p) in OVERRIDE_PARAMS.items()}
    params["overrides"] = Param({}, **OVERRIDES_PARAM.schema,
                                description=OVERRIDES_PARAM.description)
    return params


def run_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """The dotted-path settings a run's params change (unset params change nothing)."""
    chosen = {key: params[name] for name, (key, _) in OVERRIDE_PARAMS.items()
              if params.get(name) is not None}
    return {**chosen, **(params.get("overrides") or {})}


def run_config(context: dict[str, Any]) -> RankctConfig:
    """The profile's configuration with this run's overrides (only allowed ones: a
    :class:`rankct.errors.ConfigError` names any other)."""
    return apply_run_overrides(load_config(), run_overrides(dict(context.get("params") or {})))


def run_day(context: dict[str, Any]) -> date:
    """The day a run works on: its logical date (UTC), or for a run an Asset event started
    (which has none), the ``day`` the newest triggering event names."""
    logical = context.get("logical_date")
    if logical is not None:
        return date(logical.year, logical.month, logical.day)
    days = [event.extra["day"] for events in (context.get("triggering_asset_events") or {})
            .values() for event in events if (event.extra or {}).get("day")]
    if not days:
        raise RankctError("this run has neither a logical date nor an Asset event naming a day",
                          hint="trigger it with a logical date (the day to work on)")
    return date.fromisoformat(max(days))
