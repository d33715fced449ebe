"""The model's input rows for (user, item) candidate pairs, as of the scoring time.

Table features come from the day's offline feature tables, joined as Feast's FeatureService
``ranker_v1`` joins them (item, user, user x category, user x brand; a missing row gives missing
values). Request-time features are computed by ``rankct.features.request_time``, the code the
Feast on-demand views run, so batch scores see the values training and online serving saw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from rankct.errors import RankctError
from rankct.features import request_time

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

REQUEST_TIME_FEATURES = ("price_to_user_median", "query_category_match", "query_brand_match",
                         "size_fit")
# The table columns each request-time feature is computed from, and all of them.
REQUEST_TIME_NEEDS = {"price_to_user_median": ("price", "user_median_purchase_price_30d"),
                      "query_category_match": ("item_category",),
                      "query_brand_match": ("item_brand",),
                      "size_fit": ("item_size", "user_top_size")}
REQUEST_TIME_INPUTS = tuple(dict.fromkeys(c for needs in REQUEST_TIME_NEEDS.values()
                                          for c in needs))
# Batch recommendations answer no search: the query is empty, as on the feed surface.
BATCH_QUERY = ""
# The array<float> column that carries a row's model features from the JVM to Python.
PACKED = "features"


def scoring_rows(pairs: DataFrame, items: DataFrame, users: DataFrame,
                 category_affinity: DataFrame, brand_affinity: DataFrame) -> DataFrame:
    """``pairs`` with every table feature of its item, user, user x category and user x brand."""
    def features(frame: DataFrame) -> DataFrame:
        return frame.drop("event_timestamp")

    category = (features(category_affinity).withColumnRenamed("category", "item_category"))
    brand = features(brand_affinity).withColumnRenamed("brand", "item_brand")
    return (pairs.join(features(items), "item_id")
            .join(features(users), "user_id", "left")
            .join(category, ["user_id", "item_category"], "left")
            .join(brand, ["user_id", "item_brand"], "left"))


def scoring_rows_in_pandas(pairs: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`scoring_rows` in pandas, for frames that fit in memory (tests, benchmarks).

    ``tables`` maps the four feature table names to their frames. A null key joins nothing, as
    in SQL (pandas would match null to null).
    """
    def features(name: str, keys: list[str], renamed: dict[str, str] | None = None
                 ) -> pd.DataFrame:
        frame = tables[name].drop(columns="event_timestamp", errors="ignore").dropna(subset=keys)
        return frame.rename(columns=renamed or {})

    return (pairs.merge(features("item_features", ["item_id"]), on="item_id")
            .merge(features("user_features", ["user_id"]), on="user_id", how="left")
            .merge(features("user_category_affinity", ["user_id", "category"],
                            {"category": "item_category"}),
                   on=["user_id", "item_category"], how="left")
            .merge(features("user_brand_affinity", ["user_id", "brand"],
                            {"brand": "item_brand"}),
                   on=["user_id", "item_brand"], how="left"))


def not_numeric(columns: list[str], where: str = "the feature tables") -> RankctError:
    """The error for model features whose columns a float cast would turn into silent nulls."""
    return RankctError(f"model features {columns} are not numeric columns in {where}",
                       hint="score with a model trained on the ranker_v1 features")


def add_request_features(rows: pd.DataFrame, query: str = BATCH_QUERY) -> pd.DataFrame:
    """Add the request-time features to ``rows`` (pandas, one batch) in place; return it.

    In place because a batch is scored once and copying a wide frame costs more than the
    features themselves.
    """
    rows["price_to_user_median"] = request_time.price_to_user_median(
        rows["price"], rows["user_median_purchase_price_30d"]).to_numpy()
    # Tables written before the brand and size features lack their inputs: a model that needs
    # them is refused by check_columns, one that does not is scored as before.
    # One query for the whole batch; the functions match each distinct (query, name) pair once.
    queries = pd.Series(query, index=rows.index, dtype="object")
    rows["query_category_match"] = request_time.query_category_match(
        queries, rows["item_category"]).to_numpy()
    rows["query_brand_match"] = request_time.query_brand_match(
        queries, rows["item_brand"]).to_numpy()
    if {"item_size", "user_top_size"} <= set(rows.columns):
        rows["size_fit"] = request_time.size_fit(rows["item_size"],
                                                 rows["user_top_size"]).to_numpy()
    return rows


def check_columns(available: list[str], feature_names: list[str]) -> None:
    """RankctError naming every model feature batch scoring cannot provide."""
    known = set(available) | {name for name, needs in REQUEST_TIME_NEEDS.items()
                              if set(needs) <= set(available)}
    missing = [n for n in feature_names if n not in known]
    if missing:
        raise RankctError(f"the feature tables have no column for model features {missing}",
                          hint="score with a model trained on the ranker_v1 features, or rebuild "
                               "the feature tables with `rankct features build`")


def feature_matrix(rows: pd.DataFrame, feature_names: list[str]) -> np.ndarray:
    """float32 matrix in ``feature_names`` order, NaN for missing (as XGBoost and ONNX read it)."""
    # Column by column into one array: no wide intermediate frame, whatever the column dtypes.
    matrix = np.empty((len(rows), len(feature_names)), dtype=np.float32)
    for j, name in enumerate(feature_names):
        matrix[:, j] = rows[name].to_numpy(np.float32, na_value=np.nan)
    return matrix


def packed_features(rows: DataFrame, feature_names: list[str]) -> Column:
    """``array<float>`` column :data:`PACKED`: a row's features in ``feature_names`` order.

    The float32 cast is the one :func:`feature_matrix` makes (IEEE round to nearest, null stays
    null), done in the JVM: one list column crosses to Python instead of a column per feature,
    and the batch reshapes into the model's matrix without a copy per column. The request-time
    slots are null here; :func:`arrow_feature_matrix` fills them.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, NumericType

    types = {f.name: f.dataType for f in rows.schema.fields}
    check_columns(list(types), feature_names)
    # A cast would turn a string or timestamp column into silent nulls; the pandas path raised.
    wrong = [n for n in feature_names if n not in REQUEST_TIME_FEATURES
             and not isinstance(types[n], NumericType | BooleanType)]
    if wrong:
        raise not_numeric(wrong)
    return F.array(*(F.lit(None).cast("float") if n in REQUEST_TIME_FEATURES
                     else F.col(n).cast("float") for n in feature_names)).alias(PACKED)


def arrow_feature_matrix(batch: pa.RecordBatch, feature_names: list[str],
                         query: str = BATCH_QUERY) -> np.ndarray:
    """The float32 matrix of one Arrow batch holding :data:`PACKED` and the request-time inputs.

    Same values as ``feature_matrix(add_request_features(rows), feature_names)`` on the pandas
    rows; the request-time features come from the same ``add_request_features``.
    """
    n, m = batch.num_rows, len(feature_names)
    # Nulls read as NaN; without any null the array is Arrow's own memory, read-only.
    values = batch.column(PACKED).flatten().to_numpy(zero_copy_only=False).reshape(n, m)
    matrix = values if values.flags.writeable else values.copy()
    slots = [j for j, name in enumerate(feature_names) if name in REQUEST_TIME_FEATURES]
    if slots:
        inputs = add_request_features(batch.select(list(REQUEST_TIME_INPUTS)).to_pandas(), query)
        for j in slots:
            matrix[:, j] = inputs[feature_names[j]].to_numpy(np.float32, na_value=np.nan)
    return matrix
