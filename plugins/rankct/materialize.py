"""Bulk materialization of a day's feature partition into the online store.

Feast's stock ``materialize`` pulls the rows through the Spark offline store, builds one protobuf
object per value and writes them row by row: about 18 KB of memory per row and a few thousand
rows a second. Here the partition file is read in batches with pyarrow, each feature column is
encoded and framed in one go (:mod:`rankct.columnar`) and a batch is written with one
``executemany`` (the wide SQLite store, :mod:`rankct.wide_store`) or one raw pipeline (Feast's
Redis layout, :mod:`rankct.redis_writer`).

What lands in the store is what Feast's own ``materialize`` writes into that store - the same
entity-key bytes, value bytes and timestamps (the integration tests compare them) - so Feast's
online read path (``get_online_features``) serves it unchanged.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from rankct.columnar import EncodedBatch, Framing, encode_batch
from rankct.config import RankctConfig
from rankct.errors import RankctError
from rankct.features.build import FeaturePaths
from rankct.io import SUCCESS_MARKER

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView

    from rankct.redis_writer import RedisWriter

BATCH_ROWS = 16_384


@dataclass(frozen=True)
class ViewLayout:
    """What the online store needs to know about a feature view, read from Feast's registry."""

    name: str
    join_keys: list[tuple[str, Any]]  # (column, feast ValueType), sorted by name as Feast does
    features: list[tuple[str, Any]]
    timestamp_field: str

    @classmethod
    def of(cls, view: FeatureView) -> ViewLayout:
        keys = {column.name: column.dtype.to_value_type() for column in view.entity_columns}
        return cls(name=view.name, join_keys=sorted(keys.items()),
                   features=[(f.name, f.dtype.to_value_type()) for f in view.features],
                   timestamp_field=view.batch_source.timestamp_field)

    @property
    def columns(self) -> list[str]:
        return [k for k, _ in self.join_keys] + [f for f, _ in self.features] + [self.timestamp_field]


@dataclass(frozen=True)
class MaterializeStats:
    view: str
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


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


class WideSqliteWriter:
    """Writes one row per entity into the tables of :class:`rankct.wide_store.WideSqliteOnlineStore`.

    One transaction per view, so a reader sees the previous day or the new one, never half;
    a row never replaces a newer one, so replaying an old day after a newer one changes nothing.
    """

    def __init__(self, store: FeatureStore) -> None:
        from rankct import wide_store

        self._config = store.config
        self._conn = wide_store.connect(store.config)
        # The store is rebuilt from the offline tables if the machine dies mid-write: trade the
        # per-commit fsync for speed. SQLite's default page cache (2 MB) is enough: each batch
        # is upserted in key order, so the B-tree is walked front to back.
        self._conn.execute("PRAGMA synchronous=OFF")

    def framings(self, layout: ViewLayout) -> list[Framing]:
        """``Map.val`` entries, one per feature."""
        from rankct.wide_store import entry_prefix

        return [Framing(entry_prefix(name)) for name, _ in layout.features]

    def write(self, view: FeatureView, layout: ViewLayout, batches: Iterator[EncodedBatch]) -> int:
        """Upsert every batch in one transaction; returns the rows read."""
        from rankct.wide_store import table_name, upsert_sql

        table = table_name(self._config, view)
        if not self._conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                                  (table,)).fetchone():
            raise RankctError(f"online table {table} of view {layout.name} does not exist",
                              hint="run `rankct features apply` first")
        upsert = upsert_sql(table)
        rows = 0
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for batch in batches:
                # In key order, the upserts walk the table's B-tree front to back.
                blobs = map(b"".join, zip(*batch.columns))
                self._conn.executemany(upsert, sorted(zip(
                    batch.entity_keys, batch.micros.tolist(), itertools.repeat(None), blobs)))
                rows += len(batch.entity_keys)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return rows

    def close(self) -> None:
        self._conn.close()


def _registered_view(store: FeatureStore, name: str) -> FeatureView:
    from feast.errors import FeatureViewNotFoundException

    try:
        return store.get_feature_view(name)
    except FeatureViewNotFoundException:
        raise RankctError(f"feature view {name} is not in the Feast registry {store.config.registry.path}",
                          hint="run `rankct features apply` first") from None


def _writer(store: FeatureStore) -> WideSqliteWriter | RedisWriter:
    from rankct.wide_store import STORE_TYPE

    kind = store.config.online_store.type
    if kind == STORE_TYPE:
        return WideSqliteWriter(store)
    if kind == "redis":
        from rankct.redis_writer import RedisWriter

        return RedisWriter(store)
    raise RankctError(f"bulk materialization supports the {STORE_TYPE} and redis online stores, "
                      f"not {kind!r}", hint="use `rankct features materialize --stock` for other stores")


def bulk_materialize_day(config: RankctConfig, day: date, views: list[str],
                         store: FeatureStore | None = None,
                         batch_rows: int = BATCH_ROWS) -> list[MaterializeStats]:
    """Load ``day``'s partition of each view into the online store and record the interval in
    Feast's registry, as ``feast materialize`` would. Re-running writes the same bytes."""
    from datetime import timedelta

    from rankct.features.build import as_of
    from rankct.store import feature_store

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
