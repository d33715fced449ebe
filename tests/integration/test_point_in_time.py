"""rankct's point-in-time join (rankct.online.point_in_time) gives the frame Feast's own Spark
query gives: for served days of the tiny market, for a window of days, and for entity rows
placed on the edges of the join (a feature stamp, the TTL's end, keys no table holds)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pandas as pd
import pytest

from tests.conftest import START

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAYS = [START + timedelta(days=i) for i in range(5)]


def _joins(cfg, entity) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Feast's query's frame and rankct's, each as Feast hands it over, in request order."""
    from rankct.online.feast_repo import feature_store
    from rankct.online.historical import historical_features
    from rankct.training_set import in_request_order

    store = feature_store(cfg)
    frames = []
    for feast_query in (True, False):
        table = historical_features(store, entity, "ranker_v1", feast_query=feast_query).to_arrow()
        frames.append((table.schema, in_request_order(table.to_pandas())))
    (feast_schema, feast), (ours_schema, ours) = frames
    assert ours_schema.equals(feast_schema), (feast_schema, ours_schema)
    pd.testing.assert_frame_equal(ours, feast)
    return feast, ours


# The first day (no features yet), the last, and a window of three days.
@pytest.mark.parametrize("days", [DAYS[:1], DAYS[4:], DAYS[1:4]], ids=str)
def test_a_served_day_is_joined_as_feast_joins_it(tiny_features, spark, days) -> None:
    from rankct.training_set import labelled_requests

    feast, _ = _joins(tiny_features, labelled_requests(spark, tiny_features.data_root, days,
                                                       tiny_features))
    assert len(feast) > 1000
    # Features exist from the first day's end on: later days' rows carry them.
    assert feast["ctr_7d"].notna().any() == (days[0] > DAYS[0])


def test_the_edges_of_the_join_are_feasts(tiny_features, spark) -> None:
    """Real (user, item, category, brand) rows served at each feature stamp, a microsecond
    before it, at the end of the TTL and a microsecond after, with unknown keys and a missing
    category: every place the join's bounds and fallbacks decide."""
    from pyspark.sql import functions as F
    from rankct.online.feast_repo import FEATURE_TTL_DAYS
    from rankct.training_set import labelled_requests

    ttl, tick = timedelta(days=FEATURE_TTL_DAYS), timedelta(microseconds=1)
    stamps = [datetime.combine(d + timedelta(days=1), time(), UTC) for d in DAYS]
    instants = sorted({t for s in stamps for t in (s - tick, s, s + ttl, s + ttl + tick)})
    served = (labelled_requests(spark, tiny_features.data_root, [DAYS[2]], tiny_features)
              .orderBy("request_id", "position").limit(150))
    at = spark.createDataFrame([(i, t) for i, t in enumerate(instants)], "at INT, t TIMESTAMP")
    entity = (served.crossJoin(at)
              .withColumn("request_id", F.concat_ws("@", "request_id", F.col("at").cast("string")))
              .withColumn("event_timestamp", F.col("t"))
              # Keys no feature table holds, and a category missing altogether.
              .withColumn("item_id", F.when(F.col("position") == 1, F.lit(-1))
                          .otherwise(F.col("item_id")))
              .withColumn("category", F.when(F.col("position") == 2, F.lit(None))
                          .otherwise(F.col("category")))
              .drop("at", "t"))
    feast, _ = _joins(tiny_features, entity)

    assert len(feast) == 150 * len(instants)
    item = feast.groupby("event_timestamp")["ctr_7d"].count()
    # A stamp is served from its instant on, not a microsecond before...
    assert item[pd.Timestamp(stamps[1].replace(tzinfo=None))] > \
        item[pd.Timestamp((stamps[1] - tick).replace(tzinfo=None))]
    # ...and, with no newer row, up to the TTL's end and not a microsecond after.
    last = stamps[-1].replace(tzinfo=None)
    assert item[pd.Timestamp(last + ttl)] > 0
    assert item[pd.Timestamp(last + ttl + tick)] == 0
    assert feast.loc[feast["item_id"] == -1, "ctr_7d"].isna().all()
    assert feast.loc[feast["category"].isna(), "user_category_affinity_30d"].isna().all()

    # Rows of one instant alone, as a day's slice is joined: the partitions read are those in
    # reach of that instant only, down to the one whose stamp is the TTL's end.
    _joins(tiny_features, entity.where(F.col("event_timestamp") == F.lit(stamps[-1])))
