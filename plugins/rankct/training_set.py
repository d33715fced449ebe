"""Training sets: labelled impressions of a date range joined point-in-time with a Feast
FeatureService, as one frame grouped and sorted by request."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rankct.config import RankctConfig
from rankct.errors import RankctError
from rankct.features.build import read_raw_partition
from rankct.features.daily import labelled_impressions
from rankct.quality.content import load_history
from rankct.spark import union_all

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)
SAMPLE_BUCKETS = 10_000
REQUEST_COLUMNS = ["request_id", "user_id", "item_id", "category", "brand", "position", "surface",
                   "query", "event_timestamp", "grade"]


def window_days(start: date, end: date, skip: Collection[date] = ()) -> list[date]:
    """The days ``start``..``end`` less ``skip``; a clear error when none is left."""
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    days = [d for d in days if d not in set(skip)]
    if not days:
        raise RankctError(f"no usable day between {start} and {end} for a training set",
                          hint="check the data gate results of those days")
    return days


def labelled_requests(spark: SparkSession, data_root: Path | str, days: Sequence[date],
                      config: RankctConfig, events_of: Sequence[date] | None = None) -> DataFrame:
    """Every impression of ``days`` with its graded label (the best event inside the
    attribution window, from the events of ``events_of``, default ``days``; grades from the
    configuration) and the item's category and brand."""
    from pyspark.sql import functions as F

    data_root = Path(data_root)
    events_of = list(events_of or days)
    end = max([*days, *events_of])
    impressions = union_all([read_raw_partition(spark, data_root, "impressions", d) for d in days])
    events = union_all([read_raw_partition(spark, data_root, "events", d) for d in events_of])
    # Category and brand never change for a listing: the latest row names them.
    items = (load_history(spark, data_root, "items", end, ["item_id", "category", "brand", "price"])
             .dropDuplicates(["item_id"]))
    grades = config.labels.grades
    flags = {"clicks": "click", "favourites": "favourite", "carts": "add_to_cart",
             "purchases": "purchase"}
    grade = F.greatest(*[F.col(flag) * F.lit(grades.get(event, 0)) for flag, event in flags.items()])
    labelled = labelled_impressions(impressions, events, items,
                                    config.labels.attribution_window_minutes)
    # The position comes with the labelled rows.
    context = impressions.select("request_id", "item_id", "surface", "query")
    return (labelled.join(context, ["request_id", "item_id"])
            .withColumn("grade", grade.cast("int"))
            .withColumnRenamed("served_at", "event_timestamp")
            .select(*REQUEST_COLUMNS))


def sample_requests(entity: DataFrame, share: float) -> DataFrame:
    """A fixed share of the requests, each kept whole: a request is in when a hash of its id
    falls under the share, so the same request is in (or out) on every day and every re-run."""
    if share >= 1:
        return entity
    return entity.where(sample_bucket() < int(share * SAMPLE_BUCKETS))


def sample_bucket() -> Column:
    """A request's bucket (0 .. SAMPLE_BUCKETS - 1) for sampling by request: a hash of its id."""
    from pyspark.sql import functions as F

    return F.pmod(F.xxhash64("request_id"), F.lit(SAMPLE_BUCKETS))


def capped_share(requests: int, share: float, max_requests: int | None) -> float:
    """The share of ``requests`` to keep: ``share``, lowered so that about ``max_requests``
    remain when that is fewer (no cap when ``max_requests`` is None)."""
    if max_requests is None or requests * share <= max_requests:
        return share
    return max_requests / requests


def training_set(spark: SparkSession, data_root: Path | str, start: date, end: date,
                 config: RankctConfig, service: str = "ranker_v1",
                 skip: Collection[date] = (), max_requests: int | None = None,
                 share: float = 1.0) -> pd.DataFrame:
    """Labelled impressions joined point-in-time with ``service``'s features (each impression
    sees the features valid when it was served), sorted by request and position.

    ``share`` keeps that share of the requests (:func:`sample_requests`); ``max_requests``
    lowers it further so that at most about that many requests remain: the frame is collected
    into the driver, and a medium marketplace's week (7M impressions) does not fit in it.
    """
    from rankct.online.feast_repo import feature_store
    from rankct.online.historical import historical_features

    # Counted, bounded (Feast reads the first and last timestamps) and joined from one cache:
    # otherwise the labelling join runs once for each.
    labelled = labelled_requests(spark, data_root, window_days(start, end, skip), config).persist()
    try:
        if max_requests is not None:
            requests = labelled.select("request_id").distinct().count()
            capped = capped_share(requests, share, max_requests)
            if capped < share:
                log.info("training set of %s..%s: %s requests, keeping a hashed %.1f%% of them",
                         start, end, f"{requests:,}", 100 * capped)
            share = capped
        frame = historical_features(feature_store(config), sample_requests(labelled, share),
                                    service).to_df()
    finally:
        labelled.unpersist()
    return in_request_order(frame)


def in_request_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by serving time, request and position: the order training and evaluation expect."""
    return frame.sort_values(["event_timestamp", "request_id", "position"],
                             kind="stable").reset_index(drop=True)

