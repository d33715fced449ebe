"""Request-time features that need both the user and the item (and the query): computed by the
same function offline (training sets) and online (serving)."""

import pandas as pd
from data_sources import ranking_request
from feast import Field
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64
from feature_views import item_features, user_features


@on_demand_feature_view(
    sources=[item_features, user_features],
    schema=[Field(name="price_to_user_median", dtype=Float64)],
)
def price_to_user_median(inputs: pd.DataFrame) -> pd.DataFrame:
    """Item price over the user's median purchase price (1.0 when the user never bought)."""
    median = inputs["user_median_purchase_price_30d"].astype("float64")
    ratio = inputs["price"].astype("float64") / median.where(median > 0)
    return pd.DataFrame({"price_to_user_median": ratio.fillna(1.0)})


@on_demand_feature_view(
    sources=[item_features, ranking_request],
    schema=[Field(name="query_category_match", dtype=Int64)],
)
def query_category_match(inputs: pd.DataFrame) -> pd.DataFrame:
    """1 when the search query names the item's category, else 0 (also 0 off search)."""
    query = inputs["query"].fillna("").astype(str).str.lower()
    category = inputs["item_category"].fillna("").astype(str).str.lower()
    match = [int(bool(c) and c in q) for q, c in zip(query, category)]
    return pd.DataFrame({"query_category_match": pd.Series(match, dtype="int64")})
