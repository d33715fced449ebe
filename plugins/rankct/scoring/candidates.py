"""Which items each active user is scored on: the user's favourite categories and brands, what
is popular, what is new. Only items on sale at the scoring time are ever candidates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


@dataclass(frozen=True)
class CandidateSpec:
    """How many candidates each source adds per user (about 170 at most by default)."""

    active_days: int = 7  # a user with an impression in this many days up to the day is active
    top_categories: int = 3
    per_category: int = 20
    top_brands: int = 3
    per_brand: int = 10
    popular: int = 50  # most clicked items over the last 7 days
    fresh: int = 30  # most recently listed items


def active_users(user_daily: DataFrame) -> DataFrame:
    """``user_id`` of users with at least one impression in the daily user counts given."""
    from pyspark.sql import functions as F

    return (user_daily.groupBy("user_id").agg(F.sum("impressions").alias("impressions"))
            .where(F.col("impressions") > 0).select("user_id"))


def sold_items(items_log: DataFrame, cutoff: datetime) -> DataFrame:
    """``item_id`` of items the change log knows as sold before ``cutoff``.

    Any row stamped before the cutoff counts, not only the latest one: an item is sold once, and
    reading nothing stamped at or after the cutoff keeps a re-run's answer the same.
    """
    from pyspark.sql import functions as F

    return (items_log.where((F.col("updated_at") < F.lit(cutoff)) & F.col("sold_at").isNotNull()
                            & (F.col("sold_at") < F.lit(cutoff)))
            .select("item_id").distinct())


def on_sale(item_features: DataFrame, sold: DataFrame) -> DataFrame:
    """The day's item features minus every item sold since they were computed."""
    return item_features.join(sold, "item_id", "left_anti")


def _popularity() -> list[Column]:
    from pyspark.sql import functions as F

    # item_id last: ties break the same way in every run.
    return [F.col("clicks_7d").desc(), F.col("ctr_7d").desc(), F.col("item_id")]


def _top(frame: DataFrame, group: str | None, order: list[Column], n: int) -> DataFrame:
    """The first ``n`` rows of ``frame`` by ``order``, per ``group`` (or overall)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    window = (Window.partitionBy(group) if group else Window.partitionBy()).orderBy(*order)
    return frame.withColumn("_n", F.row_number().over(window)).where(F.col("_n") <= n).drop("_n")


def candidate_pairs(items: DataFrame, users: DataFrame, category_affinity: DataFrame,
                    brand_affinity: DataFrame, spec: CandidateSpec = CandidateSpec()) -> DataFrame:
    """(``user_id``, ``item_id``, ``sources``) for every active user, each pair once.

    ``items`` are the item features of items on sale (see :func:`on_sale`); ``sources`` lists the
    reasons a pair was picked, comma-separated and sorted.
    """
    from pyspark.sql import functions as F

    items = items.select("item_id", "item_category", "item_brand", "clicks_7d", "ctr_7d",
                         "age_days")
    parts = []
    for key, affinity, top_n, per_n in (
            ("category", category_affinity, spec.top_categories, spec.per_category),
            ("brand", brand_affinity, spec.top_brands, spec.per_brand)):
        liked = _top(affinity.join(users, "user_id"), "user_id",
                     [F.col(f"user_{key}_affinity_30d").desc(),
                      F.col(f"user_{key}_engaged_30d").desc(),
                      F.col(f"user_{key}_impressions_30d").desc(), F.col(key)], top_n)
        best = _top(items, f"item_{key}", _popularity(), per_n)
        parts.append(liked.join(best, liked[key] == best[f"item_{key}"])
                     .select("user_id", "item_id", F.lit(key).alias("source")))
    popular = _top(items, None, _popularity(), spec.popular)
    fresh = _top(items, None, [F.col("age_days"), F.col("item_id")], spec.fresh)
    for name, picked in (("popular", popular), ("fresh", fresh)):
        # A few dozen items for every user: broadcasting them keeps the cross join map-side.
        parts.append(users.crossJoin(F.broadcast(picked.select("item_id")))
                     .select("user_id", "item_id", F.lit(name).alias("source")))
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return (union.groupBy("user_id", "item_id")
            .agg(F.concat_ws(",", F.sort_array(F.collect_set("source"))).alias("sources")))
