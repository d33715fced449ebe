"""Feature services: one per model version's feature set."""

from feast import FeatureService
from feature_views import item_features, user_brand_affinity, user_category_affinity, user_features
from on_demand_views import (
    price_to_user_median,
    query_brand_match,
    query_category_match,
    size_fit,
)

ranker_v1 = FeatureService(
    name="ranker_v1",
    features=[item_features, user_features, user_category_affinity, user_brand_affinity,
              price_to_user_median, query_category_match, query_brand_match, size_fit],
    description="Features of the marketplace ranker, v1.",
)
