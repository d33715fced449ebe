"""Freshness: is every input of serving recent enough on day D?

- raw data: the newest complete impressions partition is at most ``monitoring.max_raw_lag_days``
  old;
- features: the newest feature tables, and what Feast's registry records as materialized into
  the online store, are at most ``monitoring.max_feature_lag_days`` old;
- champion: there is one, and its newest training day is at most
  ``monitoring.max_champion_age_days`` old (the retraining loop is alive).
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
from typing import Any

from rankct.config import RankctConfig
from rankct.contract import SUCCESS_MARKER, list_partitions
from rankct.features.build import FEATURE_TABLES, FeaturePaths, as_of
from rankct.monitoring.record import conclude


def _lag(day: date, newest: date | None) -> int | None:
    return None if newest is None else (day - newest).days


def raw_freshness(config: RankctConfig, day: date) -> dict[str, Any]:
    """The newest complete raw impressions partition, against the allowed lag."""
    from rankct.contract import partition_path

    complete = [d for d in list_partitions(config.data_root, "impressions")
                if d <= day and (partition_path(config.data_root, "impressions", d)
                                 / SUCCESS_MARKER).exists()]
    newest = max(complete, default=None)
    lag, limit = _lag(day, newest), config.monitoring.max_raw_lag_days
    passed = lag is not None and lag <= limit
    detail = (f"newest complete impressions partition is dt={newest} ({lag} day(s) old; "
              f"limit {limit})" if newest else "no complete impressions partition at all")
    return conclude(config, day, "raw_freshness", passed, detail,
                    hint="check the export that lands raw/impressions (its _SUCCESS marker is "
                         "written last)", newest=newest and newest.isoformat(), lag_days=lag)


def feature_freshness(config: RankctConfig, day: date) -> dict[str, Any]:
    """The newest offline feature partition of every table, and the online store's
    materialized interval of every view, against the allowed lag."""
    from rankct.online.feast_repo import feature_store

    limit = config.monitoring.max_feature_lag_days
    paths = FeaturePaths(config.data_root)
    offline: dict[str, str | None] = {}
    stale: list[str] = []
    for table in FEATURE_TABLES:
        parent = paths.table(table, day).parent
        days = sorted(date.fromisoformat(p.name.removeprefix("dt="))
                      for p in parent.glob("dt=*") if (p / SUCCESS_MARKER).exists()) \
            if parent.exists() else []
        newest = max((d for d in days if d <= day), default=None)
        offline[table] = newest and newest.isoformat()
        if newest is None or (day - newest).days > limit:
            stale.append(f"offline {table} (newest {newest or 'none'})")
    online: dict[str, str | None] = {}
    store = feature_store(config)
    oldest_allowed = as_of(day - timedelta(days=limit))
    for view in store.list_feature_views():
        # The registry may hand back naive datetimes; they are UTC.
        ends = [end if end.tzinfo else end.replace(tzinfo=UTC)
                for _, end in view.materialization_intervals]
        newest_end = max(ends, default=None)
        online[view.name] = newest_end and newest_end.isoformat()
        if newest_end is None or newest_end < oldest_allowed - timedelta(hours=12):
            stale.append(f"online {view.name} (materialized up to {newest_end or 'never'})")
    detail = ("every feature table and online view is within " f"{limit} day(s)"
              if not stale else "stale: " + "; ".join(stale))
    return conclude(config, day, "feature_freshness", not stale, detail,
                    hint="run the training DAG's build_features and materialize tasks for "
                         "the missing days (a backfill)", offline=offline, online=online)


def champion_freshness(config: RankctConfig, day: date) -> dict[str, Any]:
    """The champion exists and was trained on data at most ``max_champion_age_days`` old."""
    from rankct.registry import champion_version, open_store
    from rankct.registry.store import TAG_DATA_INTERVAL

    store = open_store(config)
    version = champion_version(store)
    limit = config.monitoring.max_champion_age_days
    if version is None:
        return conclude(config, day, "champion_freshness", False, "no champion is registered",
                        hint="run the training DAG until a challenger passes the model gate",
                        version=None)
    tags = store.client.get_model_version(store.model_name, version).tags
    interval = tags.get(TAG_DATA_INTERVAL, "")
    newest = date.fromisoformat(interval.split("/")[-1]) if "/" in interval else None
    age = _lag(day, newest)
    passed = age is not None and age <= limit
    detail = (f"champion v{version} was trained on data up to {newest} ({age} day(s) old; "
              f"limit {limit})" if newest else f"champion v{version} has no data interval tag")
    return conclude(config, day, "champion_freshness", passed, detail,
                    hint="look at the training DAG's recent runs: every challenger since was "
                         "rejected or the runs failed (`rankct status`)",
                    version=version, trained_up_to=newest and newest.isoformat(), age_days=age)
