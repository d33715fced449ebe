"""Per-day interaction counts: the building block of every windowed feature.

Counting each day once and summing the last N days keeps a 30-day window at 30 small reads
instead of 30 days of raw logs per run.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_EVENT_COUNT = {"click": "clicks", "favourite": "favourites", "add_to_cart": "carts",
                "purchase": "purchases"}


def labelled_impressions(impressions: DataFrame, events: DataFrame, items: DataFrame,
                         window_minutes: int, as_of: datetime | None = None) -> DataFrame:
    """One row per impression with its logged position, 0/1 outcome flags and the item's
    category, brand, price and size (those of them ``items`` has).

    Only events inside the attribution window count, as for training labels, and, for
    features, none stamped at or after ``as_of``: an event just after midnight belongs to
    tomorrow's features. Labels pass no ``as_of``: the whole window counts.
    """
    from pyspark.sql import functions as F

    served = impressions.select("request_id", "user_id", "item_id", "position", "served_at")
    window = F.expr(f"INTERVAL {window_minutes} MINUTES")
    in_window = ((F.col("event_at") >= F.col("served_at"))
                 & (F.col("event_at") <= F.col("served_at") + window))
    if as_of is not None:
        in_window &= F.col("event_at") < F.lit(as_of)
    outcome = (events.join(served.select("request_id", "item_id", "served_at"),
                           ["request_id", "item_id"])
               .where(in_window)
               .groupBy("request_id", "item_id")
               .agg(*[F.max((F.col("event_type") == e).cast("int")).alias(c)
                      for e, c in _EVENT_COUNT.items()]))
    attributes = [c for c in ("category", "brand", "price", "size") if c in items.columns]
    return (served.join(outcome, ["request_id", "item_id"], "left")
            .fillna(0, list(_EVENT_COUNT.values()))
            .join(items.select("item_id", *attributes), "item_id", "left"))


def with_log_signals(labelled: DataFrame, propensity: dict[int, float],
                     category_price: DataFrame) -> DataFrame:
    """Add what the logs say beyond the outcome flags, per impression:

    - ``examination``: the examination propensity of its logged position (summed, the expected
      examinations: clicks over them is a click-through rate freed of where the production
      ranker put the item);
    - ``logged_rank``: its place in the logged list, 1 for first and 0 for last: averaged over
      many lists, what the production ranker thought of it, without its per-request noise;
    - ``log_price_ratio``: log of its price over its category's median price (column
      ``category_median_price`` of ``category_price``).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    last = max(propensity)
    curve = F.create_map(*[F.lit(x) for kv in sorted(propensity.items()) for x in kv])
    length = F.max("position").over(Window.partitionBy("request_id"))
    return (labelled.join(F.broadcast(category_price), "category", "left")
            .withColumn("examination", curve[F.least(F.col("position"), F.lit(last))])
            .withColumn("logged_rank", F.when(length > 1, 1.0 - (F.col("position") - 1)
                                              / (length - 1)).when(length == 1, F.lit(1.0)))
            .withColumn("log_price_ratio", F.log(F.col("price") / F.col("category_median_price")))
            .drop("category_median_price"))


def daily_counts(labelled: DataFrame, keys: list[str]) -> DataFrame:
    """Impressions and outcome counts of one day, grouped by ``keys``; with the signals of
    :func:`with_log_signals` also the expected examinations, the sum and count of logged ranks,
    and the sum and count of clicked items' log price ratios."""
    from pyspark.sql import functions as F

    sums = []
    if "examination" in labelled.columns:
        clicked = F.col("clicks") > 0
        sums = [F.sum("examination").alias("examinations"),
                F.sum("logged_rank").alias("logged_rank_sum"),
                F.count("logged_rank").alias("ranked"),
                F.sum(F.when(clicked, F.col("log_price_ratio"))).alias("click_log_price_sum"),
                F.count(F.when(clicked, F.col("log_price_ratio"))).alias("priced_clicks")]
    return labelled.groupBy(*keys).agg(
        F.count(F.lit(1)).alias("impressions"),
        *[F.sum(c).cast("long").alias(c) for c in _EVENT_COUNT.values()], *sums)
