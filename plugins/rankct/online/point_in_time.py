"""The training set's point-in-time join over the feature tables' daily partitions: the rows
Feast's Spark offline store returns, computed in a fraction of its time.

Feast's query (``feast.infra.offline_stores.contrib.spark_offline_store``) reads every
partition of every feature table. It gives each entity row a string id (its keys and timestamp
concatenated), joins each table on that id within the TTL, ranks the matches in a window and
joins the winners back: about 20 Spark stages. Profiled, that was 7.6 s of a small day's join
and 68 s of a medium day's 80 s, whose result then crossed to the driver anyway. rankct's
feature tables are partitioned by day, and partition ``dt=D`` holds the rows valid from
``D + 1`` 00:00 (:mod:`rankct.features.build`). So the rows an impression can see lie in the
few partitions from its day back over the TTL. This join reads only those partitions with
Arrow, in the process that needs the rows, joins them on the keys and keeps, for each entity
row, the newest row within the TTL: the result Feast's query defines.

Only the feature views' rows are computed here. Feast still resolves the service, runs the
on-demand views and converts the result (:func:`rankct.online.historical.historical_features`),
so the frame is Feast's frame. ``tests/integration/test_point_in_time.py`` compares the two
joins. Views that do not have this layout (a source that is not a parquet directory this
process can read, a field mapping, a created-timestamp column, no TTL) keep Feast's query.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from rankct.errors import RankctError

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

PARTITION = "dt"
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


@dataclass(frozen=True)
class DailyView:
    """What the join needs of one feature view whose source is a day-partitioned table."""

    name: str
    path: Path
    keys: tuple[str, ...]
    features: tuple[str, ...]
    timestamp_field: str
    ttl: timedelta

    def partitions(self, first: date, last: date) -> list[Path]:
        """The partitions that can hold a row valid for an entity row served between the
        days ``first`` and ``last``: from the day before ``first - ttl`` to ``last``. A row of
        partition ``dt=D`` is valid from an instant between ``D`` and ``D + 1`` 00:00, so every
        partition left out holds only rows from before ``first - ttl`` or after ``last``."""
        low = (datetime.combine(first, time()) - self.ttl - timedelta(days=1)).date()
        days = (low + timedelta(days=i) for i in range((last - low).days + 1))
        return [p for p in (self.path / f"{PARTITION}={d.isoformat()}" for d in days)
                if p.is_dir()]


def daily_views(store: FeatureStore, service: FeatureService) -> list[DailyView] | None:
    """``service``'s feature views in the order Feast joins them, or None when any of them
    lacks the layout this join relies on (Feast's own query then runs)."""
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

    on_demand = {view.name for view in store.list_on_demand_feature_views()}
    views = []
    for projection in service.feature_view_projections:
        if projection.name in on_demand:
            continue
        view = store.get_feature_view(projection.name)
        source = view.batch_source
        if (not isinstance(source, SparkSource) or not source.path
                or source.file_format != "parquet" or source.field_mapping
                or source.created_timestamp_column or not view.ttl
                or projection.join_key_map or not Path(source.path).is_dir()):
            return None
        views.append(DailyView(
            name=projection.name_to_use(), path=Path(source.path),
            keys=tuple(column.name for column in view.entity_columns),
            features=tuple(feature.name for feature in projection.features),
            timestamp_field=source.timestamp_field, ttl=view.ttl))
    return views


def point_in_time_join(entity: pa.Table, views: list[DailyView],
                       timestamp: str = "event_timestamp") -> pa.Table:
    """``entity`` with the features of ``views`` appended, each row getting, per view, the
    newest row of its keys stamped no later than its ``timestamp`` and no earlier than the
    view's TTL before it (nulls when there is none), in ``entity``'s row order. A table holds
    one row per key and stamp, as Feast's query also assumes.
    """
    import pyarrow.compute as pc

    first, last = (None if v is None else v.date() for v in
                   pc.min_max(entity.column(timestamp)).as_py().values())
    columns = {name: entity.column(name) for name in entity.column_names}
    for view in views:
        right = _feature_rows(view, entity, first, last, timestamp)
        taken = _newest_rows(entity, right, view, timestamp)
        columns.update({f: right.column(f).take(taken) for f in view.features})
    return pa.table(columns)


def _newest_rows(entity: pa.Table, right: pa.Table, view: DailyView,
                 timestamp: str) -> pa.Array:
    """For each entity row, the index in ``right`` of its newest row within the TTL (null when
    there is none).

    A hash join on the keys and a sort, not Arrow's as-of join: that one runs on one thread
    and took 19 s per view for a medium day's million impressions, this about a second. Each
    entity row meets a key's rows of the few partitions in reach, so the pairs stay few.
    """
    import numpy as np
    import pyarrow.compute as pc

    row, match, stamp, served = "__entity_row", "__right_row", "__stamp", "__served"
    left = pa.table({**{k: entity.column(k) for k in view.keys},
                     served: entity.column(timestamp).cast(pa.int64()),
                     row: pa.array(np.arange(entity.num_rows))})
    candidates = pa.table({**{k: right.column(k) for k in view.keys},
                           stamp: right.column(timestamp).cast(pa.int64()),
                           match: pa.array(np.arange(right.num_rows))})
    pairs = left.join(candidates, list(view.keys), join_type="inner")
    # The timestamps' integers count their unit: the TTL in the same unit.
    unit = _PER_SECOND[entity.schema.field(timestamp).type.unit]
    ttl = int(view.ttl.total_seconds()) * unit
    served_at, stamped = pairs.column(served), pairs.column(stamp)
    pairs = pairs.filter(pc.and_(pc.less_equal(stamped, served_at),
                                 pc.greater_equal(stamped, pc.subtract(served_at, ttl))))
    # Newest first within each entity row; the first pair of each row is its match.
    pairs = pairs.sort_by([(row, "ascending"), (stamp, "descending")])
    rows = pairs.column(row).to_numpy()
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    index = np.full(entity.num_rows, -1, dtype=np.int64)
    index[rows[first]] = pairs.column(match).to_numpy()[first]
    return pa.array(index, mask=index < 0)


def _feature_rows(view: DailyView, entity: pa.Table, first: date | None, last: date | None,
                  timestamp: str) -> pa.Table:
    """The rows of ``view``'s partitions in reach of the days ``first``..``last`` whose first
    key occurs in ``entity``, with their keys and stamp named and typed as the entity rows'."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    columns = [*view.keys, view.timestamp_field, *view.features]
    partitions = view.partitions(first, last) if first and last else []
    if not partitions:
        # None in reach: an empty table of the first partition's columns, so that the
        # features keep their types (and every entity row gets nulls).
        every = sorted(view.path.glob(f"{PARTITION}=*"))
        if not every:
            raise RankctError(f"feature table {view.path} of view {view.name} has no partition",
                              hint="build the features of the training window's days first")
        tables = [pq.read_table(every[0], columns=columns).slice(0, 0)]
    else:
        tables = [pq.read_table(p, columns=columns) for p in partitions]
    names = [*view.keys, timestamp, *view.features]
    table = pa.concat_tables(tables, promote_options="permissive").rename_columns(names)
    table = table.cast(pa.schema([entity.schema.field(n) if n in view.keys or n == timestamp
                                  else table.schema.field(n) for n in names]))
    # A row without all its keys matches no entity row, as in Feast's join on the keys. Rows
    # of keys no entity row has are dropped before the join: a day's impressions name a
    # fraction of the items and users a table holds.
    first_key = view.keys[0]
    keep = functools.reduce(pc.and_, [
        *[pc.is_valid(table.column(k)) for k in view.keys],
        pc.is_in(table.column(first_key), value_set=pc.unique(entity.column(first_key)))])
    return table.filter(keep)
