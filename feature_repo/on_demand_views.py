"""Request-time features that need both the user and the item (and the query). The arithmetic
lives in rankct.features.request_time, which batch scoring calls too: offline, online and batch
compute them with the same code."""

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
    from rankct.features import request_time

    ratio = request_time.price_to_user_median(inputs["price"],
                                              inputs["user_median_purchase_price_30d"])
    return pd.DataFrame({"price_to_user_median": ratio.to_numpy()})


@on_demand_feature_view(
    sources=[item_features, ranking_request],
    schema=[Field(name="query_category_match", dtype=Int64)],
)
def query_category_match(inputs: pd.DataFrame) -> pd.DataFrame:
    """1 when the search query names the item's category, else 0 (also 0 off search)."""
    from rankct.features import request_time

    match = request_time.query_category_match(inputs["query"], inputs["item_category"])
    return pd.DataFrame({"query_category_match": match.to_numpy()})


@on_demand_feature_view(
    sources=[item_features, ranking_request],
    schema=[Field(name="query_brand_match", dtype=Int64)],
)
def query_brand_match(inputs: pd.DataFrame) -> pd.DataFrame:
    """1 when the search query names the item's brand, else 0 (also 0 off search)."""
    from rankct.features import request_time

    match = request_time.query_brand_match(inputs["query"], inputs["item_brand"])
    return pd.DataFrame({"query_brand_match": match.to_numpy()})


@on_demand_feature_view(
    sources=[item_features, user_features],
    schema=[Field(name="size_fit", dtype=Float64)],
)
def size_fit(inputs: pd.DataFrame) -> pd.DataFrame:
    """1 when the item is in the user's usual size, 0 in another, missing when unknown."""
    from rankct.features import request_time

    fit = request_time.size_fit(inputs["item_size"], inputs["user_top_size"])
    return pd.DataFrame({"size_fit": fit.to_numpy()})
