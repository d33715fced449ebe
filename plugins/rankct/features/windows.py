"""Feature tables as of the end of a day, from daily counts and the dimension change logs.

Every function takes DataFrames and the as-of instant and returns a DataFrame: no I/O, so tests
feed them hand-made rows. Nothing here reads a row stamped at or after ``as_of``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

WINDOWS = (1, 7, 30)
CONDITION_RANK = {"satisfactory": 0, "good": 1, "very_good": 2, "new": 3, "new_with_tags": 4}
# Pseudo-count of the click-through smoothing: an item needs ~20 impressions to move far from
# the window's overall rate.
SMOOTHING = 20.0
# Daily sums of rankct.features.daily.with_log_signals, windowed like the counts.
SIGNALS = ("examinations", "logged_rank_sum", "ranked", "click_log_price_sum", "priced_clicks")


def latest_as_of(changelog: DataFrame, key: list[str], as_of: datetime) -> DataFrame:
    """The latest row per ``key`` stamped strictly before ``as_of`` (a change log's state then)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    recent = Window.partitionBy(*key).orderBy(F.col("updated_at").desc())
    return (changelog.where(F.col("updated_at") < F.lit(as_of))
            .withColumn("_rank", F.row_number().over(recent)).where("_rank = 1").drop("_rank"))


def stable_code(column: str) -> Column:
    """A stable non-negative integer for a string: the same in every run, job and language
    (xxhash64), usable by XGBoost, ONNX and Vespa alike."""
    from pyspark.sql import functions as F

    return F.pmod(F.xxhash64(F.col(column)), F.lit(1 << 20)).cast("long")


def smoothed_ctr(clicks: Column, impressions: Column, prior: float) -> Column:
    return (clicks + SMOOTHING * prior) / (impressions + SMOOTHING)


def _doubles(daily: DataFrame, names: tuple[str, ...]) -> list[str]:
    from pyspark.sql.types import DoubleType

    return [n for n in names if isinstance(daily.schema[n].dataType, DoubleType)]


def _day_ordered_sum(days: Column, name: str, within: int | None = None) -> Column:
    """The sum of ``name`` over ``days`` (a day_back-sorted array of structs), added day by day
    from the newest (within ``within`` days), nulls skipped: the order in which Spark added
    them when each day was a partition of its own. Floating-point sums depend on their order,
    and the daily partitions are now read in one scan that orders them by file size."""
    from pyspark.sql import functions as F

    kept = days if within is None else F.filter(days, lambda x: x["day_back"] < within)
    return F.aggregate(kept, F.lit(0.0),
                       lambda total, x: total + F.coalesce(x[name], F.lit(0.0)))


def _days_of(names: list[str]) -> Column:
    from pyspark.sql import functions as F

    return F.sort_array(F.collect_list(F.struct("day_back", *names))).alias("_days")


def windowed(daily: DataFrame, key: list[str], prefix: str = "",
             extra: tuple[str, ...] = ()) -> DataFrame:
    """Sum ``daily`` counts (column ``day_back``: 0 for the as-of day, 1 the day before...) over
    the 1, 7 and 30-day windows, one column per count (and ``extra`` sum) and window."""
    from pyspark.sql import functions as F

    doubles = _doubles(daily, extra)
    aggs, columns = [], []
    for days in WINDOWS:
        inside = F.col("day_back") < days
        for name in ("impressions", "clicks", "favourites", "purchases", *extra):
            alias = f"{prefix}{name}_{days}d"
            if name in doubles:
                columns.append(_day_ordered_sum(F.col("_days"), name, days).alias(alias))
                continue
            total = F.sum(F.when(inside, F.col(name)).otherwise(0))
            aggs.append((total if name in extra else total.cast("long")).alias(alias))
            columns.append(F.col(alias))
    days = [_days_of(doubles)] if doubles else []
    return daily.groupBy(*key).agg(*aggs, *days).select(*key, *columns)


def _global_ctr(daily: DataFrame, per: str = "impressions") -> dict[int, float]:
    """Clicks per ``per`` (impressions, or expected examinations) of each whole window.

    Summed per day in Spark, then the days added newest first here: the order of the thirty
    one-day partitions this was once read as, which a floating-point ``per`` depends on."""
    from functools import reduce
    from operator import add

    from pyspark.sql import functions as F

    days = sorted(daily.groupBy("day_back")
                  .agg(F.sum("clicks").alias("clicks"), F.sum(per).alias("per")).collect())
    ratios = {}
    for d in WINDOWS:
        inside = [row for row in days if row["day_back"] < d]
        clicks = sum(row["clicks"] or 0 for row in inside)
        total = reduce(add, [row["per"] for row in inside if row["per"] is not None], 0)
        ratios[d] = clicks / total if total else 0.0
    return ratios


def _mean(total: str, count: str) -> Column:
    """``total / count``, missing where nothing was counted."""
    from pyspark.sql import functions as F

    return F.when(F.col(count) > 0, F.col(total) / F.col(count))


def item_features(items: DataFrame, sellers: DataFrame, item_daily: DataFrame,
                  brand_daily: DataFrame, seller_sales: DataFrame, as_of: datetime) -> DataFrame:
    """One row per item on sale at ``as_of``: attributes, seller, and 1/7/30-day engagement."""
    from pyspark.sql import functions as F

    state = latest_as_of(items, ["item_id"], as_of)
    on_sale = state.where(F.col("sold_at").isNull() | (F.col("sold_at") >= F.lit(as_of)))
    seller = latest_as_of(sellers, ["seller_id"], as_of).select(
        "seller_id", F.col("rating").alias("seller_rating"))
    prior, debiased = _global_ctr(item_daily), _global_ctr(item_daily, "examinations")
    counts = windowed(item_daily, ["item_id"], extra=SIGNALS)
    brand = windowed(brand_daily, ["brand"], prefix="brand_", extra=SIGNALS).select(
        "brand", "brand_impressions_30d",
        smoothed_ctr(F.col("brand_clicks_30d"), F.col("brand_impressions_30d"), prior[30])
        .alias("brand_ctr_30d"),
        smoothed_ctr(F.col("brand_clicks_7d"), F.col("brand_examinations_7d"), debiased[7])
        .alias("brand_debiased_ctr_7d"),
        _mean("brand_logged_rank_sum_30d", "brand_ranked_30d").alias("brand_logged_rank_30d"))
    # The category's median asking price among the items on sale then.
    category_price = on_sale.groupBy("category").agg(
        F.median("price").alias("category_median_price"))
    condition = F.create_map(*[F.lit(x) for kv in CONDITION_RANK.items() for x in kv])
    out = (on_sale.join(seller, "seller_id", "left").join(counts, "item_id", "left")
           .join(brand, "brand", "left").join(seller_sales, "seller_id", "left")
           .join(F.broadcast(category_price), "category", "left")
           .fillna(0, [c for c in counts.columns if c != "item_id"]
                   + ["brand_impressions_30d", "seller_sales_30d"]))
    ctr = [smoothed_ctr(F.col(f"clicks_{d}d"), F.col(f"impressions_{d}d"), prior[d])
           .alias(f"ctr_{d}d") for d in WINDOWS]
    # Renamed so they never collide with the category/brand join keys of the affinity views.
    return out.select(
        "item_id", F.col("category").alias("item_category"), F.col("brand").alias("item_brand"),
        F.col("price").cast("double").alias("price"),
        F.log1p("price").alias("log_price"),
        ((F.lit(as_of).cast("long") - F.col("listed_at").cast("long")) / 86400.0)
        .alias("age_days"),
        F.coalesce(condition[F.col("condition")], F.lit(-1)).cast("long").alias("condition_rank"),
        F.col("photo_count").cast("long").alias("photo_count"),
        stable_code("category").alias("category_code"),
        stable_code("brand").alias("brand_code"),
        "seller_rating", F.col("seller_sales_30d").cast("long").alias("seller_sales_30d"),
        F.coalesce("brand_ctr_30d", F.lit(prior[30])).alias("brand_ctr_30d"),
        "brand_impressions_30d",
        *[F.col(f"{c}_{d}d") for d in WINDOWS for c in ("impressions", "clicks", "favourites")],
        *ctr,
        *[smoothed_ctr(F.col(f"clicks_{d}d"), F.col(f"examinations_{d}d"), debiased[d])
          .alias(f"debiased_ctr_{d}d") for d in (7, 30)],
        *[_mean(f"logged_rank_sum_{d}d", f"ranked_{d}d").alias(f"logged_rank_{d}d")
          for d in (7, 30)],
        F.coalesce("brand_debiased_ctr_7d", F.lit(debiased[7])).alias("brand_debiased_ctr_7d"),
        "brand_logged_rank_30d",
        F.log(F.col("price") / F.col("category_median_price")).alias("log_price_to_category"),
        F.col("size").alias("item_size"),
    )


def user_features(users: DataFrame, user_daily: DataFrame, purchases: DataFrame,
                  user_category_daily: DataFrame, user_size_daily: DataFrame,
                  as_of: datetime) -> DataFrame:
    """One row per user signed up before ``as_of``: activity, click-through, purchases, the median
    purchase price, the favourite category, the usual size (of the sized items clicked) and
    the usual price level (clicked items' log price over their category's median) over the last
    7 and 30 days."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    state = latest_as_of(users, ["user_id"], as_of)
    prior = _global_ctr(user_daily)
    counts = windowed(user_daily, ["user_id"], extra=SIGNALS)
    spend = purchases.groupBy("user_id").agg(
        F.median("price").alias("median_purchase_price_30d"))
    engaged = (user_category_daily.groupBy("user_id", "category")
               .agg(F.sum(F.col("clicks") + F.col("favourites")).alias("engaged")))
    top = Window.partitionBy("user_id").orderBy(F.col("engaged").desc(), F.col("category"))
    favourite = (engaged.withColumn("share", F.try_divide(F.col("engaged"), F.sum("engaged").over(
                     Window.partitionBy("user_id"))))
                 .withColumn("_rank", F.row_number().over(top)).where("_rank = 1 AND engaged > 0")
                 .select("user_id", F.col("category").alias("top_category"),
                         F.col("share").alias("top_category_share")))
    sized = (user_size_daily.where(F.col("size").isNotNull()).groupBy("user_id", "size")
             .agg(F.sum("clicks").alias("clicked")).where("clicked > 0"))
    by_count = Window.partitionBy("user_id").orderBy(F.col("clicked").desc(), F.col("size"))
    usual_size = (sized.withColumn("share", F.col("clicked") / F.sum("clicked").over(
                      Window.partitionBy("user_id")))
                  .withColumn("_rank", F.row_number().over(by_count)).where("_rank = 1")
                  .select("user_id", F.col("size").alias("user_top_size"),
                          F.col("share").alias("user_top_size_share")))
    out = (state.join(counts, "user_id", "left").join(spend, "user_id", "left")
           .join(favourite, "user_id", "left").join(usual_size, "user_id", "left")
           .fillna(0, [c for c in counts.columns if c != "user_id"]))
    return out.select(
        "user_id",
        ((F.lit(as_of).cast("long") - F.col("signup_at").cast("long")) / 86400.0)
        .alias("days_since_signup"),
        *[F.col(f"{c}_{d}d").alias(f"user_{c}_{d}d") for d in (7, 30)
          for c in ("impressions", "clicks")],
        *[smoothed_ctr(F.col(f"clicks_{d}d"), F.col(f"impressions_{d}d"), prior[d])
          .alias(f"user_ctr_{d}d") for d in (7, 30)],
        F.col("purchases_30d").cast("long").alias("user_purchases_30d"),
        F.col("median_purchase_price_30d").alias("user_median_purchase_price_30d"),
        "top_category", "top_category_share", "user_top_size", "user_top_size_share",
        _mean("click_log_price_sum_30d", "priced_clicks_30d")
        .alias("user_click_log_price_ratio_30d"),
    )


def affinity(daily: DataFrame, key: str) -> DataFrame:
    """User x ``key`` (category or brand) affinity over 30 days: the share of the user's clicks
    and favourites that went to it, its own counts, and the mean logged rank the production
    ranker gave the user's items of it (what it knew of the user's taste, its noise averaged)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    sums = daily.groupBy("user_id", key).agg(
        F.sum("impressions").cast("long").alias("impressions"),
        F.sum(F.col("clicks") + F.col("favourites")).cast("long").alias("engaged"),
        F.sum("purchases").cast("long").alias("purchases"),
        _days_of(["logged_rank_sum"]), F.sum("ranked").alias("ranked"),
    ).withColumn("logged_rank_sum", _day_ordered_sum(F.col("_days"), "logged_rank_sum"))
    total = F.sum("engaged").over(Window.partitionBy("user_id"))
    return sums.select(
        "user_id", key,
        F.col("impressions").alias(f"user_{key}_impressions_30d"),
        F.col("engaged").alias(f"user_{key}_engaged_30d"),
        F.col("purchases").alias(f"user_{key}_purchases_30d"),
        F.when(total > 0, F.col("engaged") / total).otherwise(0.0)
        .alias(f"user_{key}_affinity_30d"),
        _mean("logged_rank_sum", "ranked").alias(f"user_{key}_logged_rank_30d"))
