"""Point-in-time retrieval of a feature service through Feast's offline store (the training
set's join): Feast's retrieval job, with the feature views' rows joined by
:mod:`rankct.online.point_in_time` where their tables allow it, and without what Spark
Connect adds to each result that nobody reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from feast import FeatureStore
    from feast.infra.offline_stores.offline_store import RetrievalJob
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

    from rankct.online.point_in_time import DailyView


def historical_features(store: FeatureStore, entity_df: Any, service: str,
                        feast_query: bool = False) -> RetrievalJob:
    """Feast's retrieval job joining ``entity_df`` (a Spark DataFrame of entity keys and
    ``event_timestamp``) point-in-time with ``service``'s feature views.

    The feature views' rows come from :func:`rankct.online.point_in_time.point_in_time_join`
    unless ``feast_query`` is set or a view's table lacks the daily layout; Feast's own query
    computes them then. Either way Feast runs the on-demand views and converts the result.
    """
    from rankct.online.point_in_time import daily_views

    features = store.get_feature_service(service)
    job = store.get_historical_features(entity_df=entity_df, features=features)
    views = None if feast_query else daily_views(store, features)
    if views is not None:
        def joined(timeout: int | None = None) -> pd.DataFrame:
            return _joined_frame(entity_df, views)
    else:
        to_df = job._to_df_internal

        def joined(timeout: int | None = None) -> pd.DataFrame:
            frame = to_df(timeout=timeout)
            # Over Spark Connect, PySpark puts the plan's per-operator metrics into the
            # frame's ``attrs``; pandas deep-copies ``attrs`` into every column it hands out,
            # and Feast reads the frame column by column: about 2 s of a small day's join.
            frame.attrs.clear()
            return frame

    # Feast's to_df and to_arrow both fetch the rows through this method.
    job._to_df_internal = joined  # type: ignore[method-assign]
    return job


def _joined_frame(entity_df: DataFrame, views: list[DailyView]) -> pd.DataFrame:
    """The frame Feast's query would hand over for ``entity_df`` and ``views``: the joined
    Arrow table converted to pandas as PySpark's ``toPandas`` converts a result."""
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import from_arrow_type

    from rankct.online.point_in_time import point_in_time_join

    schema = entity_df.schema
    table = point_in_time_join(entity_df.toArrow(), views)
    fields = [*schema.fields, *[T.StructField(name, from_arrow_type(table.schema.field(name).type))
                                for view in views for name in view.features]]
    timezone = entity_df.sparkSession.conf.get("spark.sql.session.timeZone")
    return spark_pandas_frame(table, T.StructType(fields), timezone)


def spark_pandas_frame(table: pa.Table, schema: StructType, timezone: str) -> pd.DataFrame:
    """``table`` as PySpark's ``toPandas`` converts a result of ``schema`` (integer columns with
    nulls as floats, timestamps in the session's ``timezone``, dates as objects).

    PySpark converts column by column and joins the columns with ``pd.concat``, which copies
    every float column into one block: 2.4 to 5.7 s of a medium day's million rows. The double
    columns (most of a feature frame) need none of its corrections and come from one Arrow
    conversion instead (0.5 s); the others still take PySpark's way."""
    import pandas as pd
    from pyspark.sql import types as T
    from pyspark.sql.pandas.conversion import _convert_arrow_table_to_pandas

    def spark_way(part: pa.Table, fields: list[T.StructField]) -> pd.DataFrame:
        return _convert_arrow_table_to_pandas(part, T.StructType(fields), timezone=timezone,
                                              struct_handling_mode="legacy", date_as_object=True)

    doubles = [i for i, f in enumerate(schema.fields) if isinstance(f.dataType, T.DoubleType)]
    if not doubles or len(set(schema.names)) < len(schema.names):
        return spark_way(table, schema.fields)
    others = sorted(set(range(len(schema.fields))) - set(doubles))
    parts = [spark_way(table.select(others), [schema.fields[i] for i in others])] if others else []
    parts.append(table.select(doubles).to_pandas(coerce_temporal_nanoseconds=True,
                                                 date_as_object=True))
    return pd.concat(parts, axis="columns", copy=False)[schema.names]
