"""Offline sources: the Spark feature tables under $RANKCT_HOME/data/features (see
rankct.features.build), one partition per day, each row stamped with the instant it is valid from.
"""

import os

from feast import Field, RequestSource
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
from feast.types import String

# The one setting a declarative repo needs: where the feature tables live.
FEATURES = os.path.join(os.environ.get("RANKCT_HOME", os.path.join(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))), "var")), "data", "features")


def _table(name: str) -> SparkSource:
    return SparkSource(name=name, path=os.path.join(FEATURES, name), file_format="parquet",
                       timestamp_field="event_timestamp")


item_features_source = _table("item_features")
user_features_source = _table("user_features")
user_category_affinity_source = _table("user_category_affinity")
user_brand_affinity_source = _table("user_brand_affinity")

# Known only when a request arrives.
ranking_request = RequestSource(name="ranking_request", schema=[Field(name="query", dtype=String)])
