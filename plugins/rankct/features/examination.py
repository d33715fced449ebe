"""The examination curve the feature job divides clicks by, harvested from the logs day by day.

Each day keeps its intervention-harvesting statistics (:mod:`rankct.evaluation.propensity`) as
a small daily partition, ``daily/position_pairs/dt=D`` (one row per pair of positions); the
curve used on day D pools the last 30 days of them, so it steadies as history grows, and a
re-run of D reads the same partitions. Too little history to harvest (the first days of a
marketplace) falls back on the day's click rate by position, which over-corrects but keeps
every position's examinations finite.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from rankct.contract import SUCCESS_MARKER
from rankct.errors import RankctError
from rankct.evaluation.propensity import (
    harvest_propensities,
    pool_pair_stats,
    position_pair_stats,
)
from rankct.io import write_partition

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)
HISTORY_DAYS = 30
GRAIN = "position_pairs"
# Positions with fewer impressions than this take the curve of the position above (fallback).
_MIN_FALLBACK_IMPRESSIONS = 100


def repeated_pairs(labelled: DataFrame) -> pd.DataFrame:
    """The day's impressions of (user, item) pairs shown at two positions or more: all that
    intervention harvesting reads (about a tenth of the rows)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key = Window.partitionBy("user_id", "item_id")
    return (labelled.where(F.col("position").isNotNull())
            .withColumn("_positions", F.size(F.collect_set("position").over(key)))
            .where("_positions > 1").select("user_id", "item_id", "position", "clicks")
            .toPandas())


def _fallback(labelled: DataFrame, top: int) -> pd.Series:
    from pyspark.sql import functions as F

    counts = (labelled.where(F.col("position").isNotNull()).groupBy("position")
              .agg(F.count(F.lit(1)).alias("n"), F.sum("clicks").alias("c")).toPandas()
              .set_index("position").sort_index().reindex(range(1, top + 1)))
    rate = (counts["c"] / counts["n"]).where(counts["n"] >= _MIN_FALLBACK_IMPRESSIONS).ffill()
    if not rate.iloc[0] > 0:
        return pd.Series(1.0, index=counts.index)
    return (rate / rate.iloc[0]).cummin().fillna(1.0)


def day_propensities(labelled: DataFrame, day: date,
                     daily_path: Callable[[str, date], Path]) -> dict[int, float]:
    """Write ``day``'s harvesting statistics, then return the examination propensity of every
    position seen that day from the pooled last 30 days (``daily_path(grain, day)`` names a
    daily partition)."""
    from pyspark.sql import functions as F

    stats = position_pair_stats(repeated_pairs(labelled), label="clicks")
    write_partition(pa.Table.from_pandas(stats, preserve_index=False), daily_path(GRAIN, day))
    top = int(labelled.agg(F.max("position")).first()[0] or 1)
    parts = []
    for back in range(HISTORY_DAYS):
        path = daily_path(GRAIN, day - timedelta(days=back))
        if (path / SUCCESS_MARKER).exists():
            parts.append(pd.read_parquet(path))
    try:
        curve = harvest_propensities(pool_pair_stats(parts), top)
    except RankctError as exc:
        log.info("examination curve of %s by click rate per position: %s", day, exc)
        curve = _fallback(labelled, top)
    return {int(p): float(v) for p, v in curve.items()}
