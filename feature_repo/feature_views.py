"""Batch feature views over the Spark feature tables. A day's features are valid from the end of
that day; the TTL lets serving fall back on yesterday's values if a build is late."""

from datetime import timedelta

from data_sources import (
    item_features_source,
    user_brand_affinity_source,
    user_category_affinity_source,
    user_features_source,
)
from entities import brand, category, item, user
from feast import FeatureView, Field
from feast.types import Float64, Int64, String

TTL = timedelta(days=3)
WINDOWS = (1, 7, 30)

item_features = FeatureView(
    name="item_features", entities=[item], ttl=TTL, source=item_features_source,
    schema=[
        Field(name="item_category", dtype=String), Field(name="item_brand", dtype=String),
        Field(name="price", dtype=Float64), Field(name="log_price", dtype=Float64),
        Field(name="age_days", dtype=Float64), Field(name="condition_rank", dtype=Int64),
        Field(name="photo_count", dtype=Int64), Field(name="category_code", dtype=Int64),
        Field(name="brand_code", dtype=Int64), Field(name="seller_rating", dtype=Float64),
        Field(name="seller_sales_30d", dtype=Int64), Field(name="brand_ctr_30d", dtype=Float64),
        Field(name="brand_impressions_30d", dtype=Int64),
        *[Field(name=f"{c}_{d}d", dtype=Int64) for d in WINDOWS
          for c in ("impressions", "clicks", "favourites")],
        *[Field(name=f"ctr_{d}d", dtype=Float64) for d in WINDOWS],
        # Clicks over expected examinations, the production ranker's mean relative rank of the
        # item (1 = always first), price against the category's median, the size.
        *[Field(name=f"debiased_ctr_{d}d", dtype=Float64) for d in (7, 30)],
        *[Field(name=f"logged_rank_{d}d", dtype=Float64) for d in (7, 30)],
        Field(name="brand_debiased_ctr_7d", dtype=Float64),
        Field(name="brand_logged_rank_30d", dtype=Float64),
        Field(name="log_price_to_category", dtype=Float64),
        Field(name="item_size", dtype=String),
    ],
)

user_features = FeatureView(
    name="user_features", entities=[user], ttl=TTL, source=user_features_source,
    schema=[
        Field(name="days_since_signup", dtype=Float64),
        *[Field(name=f"user_{c}_{d}d", dtype=Int64) for d in (7, 30)
          for c in ("impressions", "clicks")],
        *[Field(name=f"user_ctr_{d}d", dtype=Float64) for d in (7, 30)],
        Field(name="user_purchases_30d", dtype=Int64),
        Field(name="user_median_purchase_price_30d", dtype=Float64),
        Field(name="top_category", dtype=String), Field(name="top_category_share", dtype=Float64),
        Field(name="user_top_size", dtype=String), Field(name="user_top_size_share", dtype=Float64),
        Field(name="user_click_log_price_ratio_30d", dtype=Float64),
    ],
)

user_category_affinity = FeatureView(
    name="user_category_affinity", entities=[user, category], ttl=TTL,
    source=user_category_affinity_source,
    schema=[Field(name="user_category_impressions_30d", dtype=Int64),
            Field(name="user_category_engaged_30d", dtype=Int64),
            Field(name="user_category_purchases_30d", dtype=Int64),
            Field(name="user_category_affinity_30d", dtype=Float64),
            Field(name="user_category_logged_rank_30d", dtype=Float64)],
)

user_brand_affinity = FeatureView(
    name="user_brand_affinity", entities=[user, brand], ttl=TTL,
    source=user_brand_affinity_source,
    schema=[Field(name="user_brand_impressions_30d", dtype=Int64),
            Field(name="user_brand_engaged_30d", dtype=Int64),
            Field(name="user_brand_purchases_30d", dtype=Int64),
            Field(name="user_brand_affinity_30d", dtype=Float64),
            Field(name="user_brand_logged_rank_30d", dtype=Float64)],
)
