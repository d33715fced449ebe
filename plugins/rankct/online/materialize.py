"""Materialization of a day's feature partition into the online store.

Feast's stock ``materialize`` pulls the rows through the Spark offline store, builds one protobuf
object per value and writes them row by row: about 18 KB of memory per row and a few thousand
rows a second. The bulk path here reads the partition file in batches with pyarrow, encodes and
frames each feature column in one go (:mod:`rankct.online.columnar`) and writes a batch with one
``executemany`` (the wide SQLite store, :mod:`rankct.online.sqlite_store`) or one raw pipeline
(Feast's Redis layout, :mod:`rankct.online.redis_store`).

What lands in the store is what Feast's own ``materialize`` writes into that store - the same
entity-key bytes, value bytes and timestamps (the integration tests compare them) - so Feast's
online read path (``get_online_features``) serves it unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from rankct.config import RankctConfig
from rankct.errors import RankctError
from rankct.features.build import FEATURE_TABLES, FeaturePaths, as_of
from rankct.io import SUCCESS_MARKER
from rankct.online.columnar import ViewLayout, encode_batch
from rankct.online.feast_repo import feature_store

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView

    from rankct.online.redis_store import RedisWriter
    from rankct.online.sqlite_store import WideSqliteWriter

BATCH_ROWS = 16_384
BATCH_VIEWS = list(FEATURE_TABLES)


@dataclass(frozen=True)
class MaterializeStats:
    view: str
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def materialize_day(config: RankctConfig, day: date, views: list[str] | None = None,
                    stock: bool = False) -> list[MaterializeStats]:
    """Load the feature rows of ``day`` (stamped at its end) into the online store.

    Incremental: only that day's partition is read; idempotent: a re-run writes the same bytes
    under the same keys, and a replayed older day never overwrites a newer value. By default the
    bulk writer (:func:`bulk_materialize_day`) does the work; ``stock`` runs Feast's own
    ``materialize`` instead (any online store, about 10x slower).
    """
    views = views or BATCH_VIEWS
    if not stock:
        return bulk_materialize_day(config, day, views)
    store, cutoff = feature_store(config), as_of(day)
    stats = []
    for name in views:
        started = time.perf_counter()
        store.materialize(start_date=cutoff - timedelta(hours=12),
                          end_date=cutoff + timedelta(hours=12), feature_views=[name])
        rows = _partition_rows(config, name, day)
        stats.append(MaterializeStats(name, rows, time.perf_counter() - started))
    return stats


def _partition_rows(config: RankctConfig, view: str, day: date) -> int:
    path = FeaturePaths(config.data_root).table(view, day)
    return sum(pq.ParquetFile(f).metadata.num_rows for f in path.glob("*.parquet"))


def read_batches(path: Path, layout: ViewLayout, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """Stream a published feature partition; a clear error if it is absent or lacks a column."""
    if not (path / SUCCESS_MARKER).exists():
        raise RankctError(f"feature partition {path} is missing or incomplete",
                          hint="build it first: `rankct features build --date D`")
    for file in sorted(path.glob("*.parquet")):
        parquet = pq.ParquetFile(file)
        missing = set(layout.columns) - set(parquet.schema_arrow.names)
        if missing:
            raise RankctError(f"{file} lacks column(s) {sorted(missing)} of feature view {layout.name}",
                              hint="rebuild the features, or `rankct features apply` after changing "
                                   "feature_repo/")
        yield from parquet.iter_batches(batch_size=batch_rows, columns=layout.columns)


def _registered_view(store: FeatureStore, name: str) -> FeatureView:
    from feast.errors import FeatureViewNotFoundException

    try:
        return store.get_feature_view(name)
    except FeatureViewNotFoundException:
        raise RankctError(f"feature view {name} is not in the Feast registry {store.config.registry.path}",
                          hint="run `rankct features apply` first") from None


def _writer(store: FeatureStore) -> WideSqliteWriter | RedisWriter:
    from rankct.online.sqlite_store import STORE_TYPE, WideSqliteWriter

    kind = store.config.online_store.type
    if kind == STORE_TYPE:
        return WideSqliteWriter(store)
    if kind == "redis":
        from rankct.online.redis_store import RedisWriter

        return RedisWriter(store)
    raise RankctError(f"bulk materialization supports the {STORE_TYPE} and redis online stores, "
                      f"not {kind!r}", hint="use `rankct features materialize --stock` for other stores")


def bulk_materialize_day(config: RankctConfig, day: date, views: list[str],
                         store: FeatureStore | None = None,
                         batch_rows: int = BATCH_ROWS) -> list[MaterializeStats]:
    """Load ``day``'s partition of each view into the online store and record the interval in
    Feast's registry, as ``feast materialize`` would. Re-running writes the same bytes."""
    store = store or feature_store(config)
    if store.config.entity_key_serialization_version != 3:
        raise RankctError("bulk materialization writes entity keys in Feast's serialization "
                          f"version 3, not {store.config.entity_key_serialization_version}",
                          hint="set entity_key_serialization_version: 3 in feature_store.yaml, "
                               "or use `rankct features materialize --stock`")
    paths = FeaturePaths(config.data_root)
    writer = _writer(store)
    stats = []
    try:
        for name in views:
            started = time.perf_counter()
            view = _registered_view(store, name)
            layout = ViewLayout.of(view)
            framings = writer.framings(layout)
            encoded = (encode_batch(batch, layout.join_keys, layout.features,
                                    layout.timestamp_field, framings)
                       for batch in read_batches(paths.table(name, day), layout, batch_rows))
            rows = writer.write(view, layout, encoded)
            cutoff = as_of(day)
            store.registry.apply_materialization(view, store.project, cutoff - timedelta(hours=12),
                                                 cutoff + timedelta(hours=12), commit=True)
            stats.append(MaterializeStats(name, rows, time.perf_counter() - started))
    finally:
        writer.close()
    return stats
