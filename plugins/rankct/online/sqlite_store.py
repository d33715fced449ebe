"""A Feast online store on SQLite with one row per entity, and its bulk writer:
``type: rankct.online.sqlite_store.WideSqliteOnlineStore``.

Feast's own SQLite store keeps one row per feature value (27 rows per item, three B-trees each),
so a day of ``item_features`` is 7.9M upserts and no writer gets near the 10x goal. Here a view's
table holds one row per entity key: the serialized entity key, the event and created timestamps
and every feature in one blob (:mod:`rankct.online.wide_row`) - so ``get_online_features``
returns the same values, and the bulk writer (:class:`WideSqliteWriter`, driven by
:mod:`rankct.online.materialize`) and Feast's own ``materialize`` (through
:meth:`WideSqliteOnlineStore.online_write_batch`) write the same bytes.

A write never replaces a newer row (``event_ts`` is compared in SQL), so replaying an older day
changes nothing and a re-run writes the same bytes.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from feast import Entity, FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_table_id
from feast.infra.online_stores.online_store import OnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import FeastConfigBaseModel, RepoConfig
from pydantic import StrictStr

from rankct.errors import RankctError
from rankct.online.columnar import EncodedBatch, Framing, ViewLayout
from rankct.online.wide_row import (
    decode_features,
    encode_features,
    entry_prefix,
    from_micros,
    to_micros,
)

if TYPE_CHECKING:
    from feast import FeatureStore

STORE_TYPE = "rankct.online.sqlite_store.WideSqliteOnlineStore"
_TABLE_SUFFIX = "__wide"  # apart from the per-value tables of Feast's store in the same file
_READ_CHUNK = 10_000  # below SQLite's limit of bound parameters per statement

# One row per entity key; WITHOUT ROWID keeps a single B-tree ordered by the key.
_CREATE = ('CREATE TABLE IF NOT EXISTS "{}" (entity_key BLOB PRIMARY KEY NOT NULL, '
           "event_ts INTEGER NOT NULL, created_ts INTEGER, features BLOB NOT NULL) WITHOUT ROWID")
_UPSERT = ('INSERT INTO "{}" (entity_key, event_ts, created_ts, features) VALUES (?, ?, ?, ?) '
           "ON CONFLICT(entity_key) DO UPDATE SET event_ts = excluded.event_ts, "
           "created_ts = excluded.created_ts, features = excluded.features "
           "WHERE excluded.event_ts >= event_ts")


class WideSqliteOnlineStoreConfig(FeastConfigBaseModel):
    """``online_store:`` section of feature_store.yaml for :class:`WideSqliteOnlineStore`."""

    type: Literal["rankct.online.sqlite_store.WideSqliteOnlineStore"] = STORE_TYPE
    path: StrictStr = "data/online.db"
    """Path of the SQLite file (relative paths are under the feature repository)."""


def db_path(config: RepoConfig) -> str:
    """The SQLite file of ``config``'s online store, resolved as Feast resolves its own."""
    path = config.online_store.path
    if config.repo_path and not Path(path).is_absolute():
        return str(Path(config.repo_path) / path)
    return path


def table_name(config: RepoConfig, view: Any) -> str:
    """The table holding ``view``'s rows."""
    versioning = config.registry.enable_online_feature_view_versioning
    return compute_table_id(config.project, view, versioning) + _TABLE_SUFFIX


def connect(config: RepoConfig) -> sqlite3.Connection:
    """A connection in autocommit mode: writers open their own transaction."""
    path = db_path(config)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)


def upsert_sql(table: str) -> str:
    """The statement writing ``(entity_key, event_ts, created_ts, features)`` rows, newer wins."""
    return _UPSERT.format(table.replace('"', '""'))


class WideSqliteOnlineStore(OnlineStore):
    """Feast's online store interface over one-row-per-entity SQLite tables."""

    _conn: sqlite3.Connection | None = None

    def _connection(self, config: RepoConfig) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(config)
        return self._conn

    def online_write_batch(self, config: RepoConfig, table: FeatureView,
                           data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime,
                                            datetime | None]],
                           progress: Callable[[int], Any] | None) -> None:
        """Write Feast's rows (one transaction per call). A row carrying only some of the view's
        features keeps the stored values of the others, as Feast's per-value layout would."""
        conn = self._connection(config)
        name = table_name(config, table)
        order = [f.name for f in table.features]
        version = config.entity_key_serialization_version
        rows = [(serialize_entity_key(key, entity_key_serialization_version=version),
                 {n: v.SerializeToString() for n, v in values.items()}, to_micros(ts),
                 None if created is None else to_micros(created))
                for key, values, ts, created in data]
        wanted = set(order)
        partial = [key for key, values, _, _ in rows if not wanted <= values.keys()]
        upsert = upsert_sql(name)
        conn.execute("BEGIN IMMEDIATE")
        try:
            if partial:
                rows = self._merged(conn, name, rows, partial)
            conn.executemany(upsert, ((key, ts, created, encode_features(values, order))
                                      for key, values, ts, created in rows))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if progress:
            progress(len(data))

    def online_read(self, config: RepoConfig, table: FeatureView,
                    entity_keys: list[EntityKeyProto],
                    requested_features: list[str] | None = None,
                    ) -> list[tuple[datetime | None, dict[str, ValueProto] | None]]:
        """Every feature of each entity (Feast picks the requested ones), ``(None, None)`` where
        the store has no row."""
        conn = self._connection(config)
        version = config.entity_key_serialization_version
        keys = [serialize_entity_key(k, entity_key_serialization_version=version)
                for k in entity_keys]
        found = {key: (ts, blob) for key, ts, blob in
                 self._select(conn, table_name(config, table), keys,
                              "entity_key, event_ts, features")}
        result: list[tuple[datetime | None, dict[str, ValueProto] | None]] = []
        for key in keys:
            row = found.get(key)
            result.append((None, None) if row is None
                          else (from_micros(row[0]), decode_features(row[1])))
        return result

    def _merged(self, conn: sqlite3.Connection, table: str, rows: list[tuple],
                partial: list[bytes]) -> list[tuple]:
        """``rows`` with the stored values of the features a row lacks, in write order (a row
        older than what it would merge with is left as is: the upsert skips it)."""
        current = {key: (ts, {n: v.SerializeToString() for n, v in decode_features(blob).items()})
                   for key, ts, blob in self._select(conn, table, partial,
                                                     "entity_key, event_ts, features")}
        merged = []
        for key, values, ts, created in rows:
            if key in current:
                if ts < current[key][0]:
                    merged.append((key, values, ts, created))
                    continue
                values = {**current[key][1], **values}
            current[key] = (ts, values)  # what the table holds once this row is written
            merged.append((key, values, ts, created))
        return merged

    @staticmethod
    def _select(conn: sqlite3.Connection, table: str, keys: list[bytes],
                columns: str) -> Iterable[tuple]:
        unique = list(dict.fromkeys(keys))
        quoted = table.replace('"', '""')
        for start in range(0, len(unique), _READ_CHUNK):
            chunk = unique[start:start + _READ_CHUNK]
            yield from conn.execute(f'SELECT {columns} FROM "{quoted}" WHERE entity_key IN '
                                    f"({','.join('?' * len(chunk))})", chunk)

    def update(self, config: RepoConfig, tables_to_delete: Sequence[FeatureView],
               tables_to_keep: Sequence[FeatureView], entities_to_delete: Sequence[Entity],
               entities_to_keep: Sequence[Entity], partial: bool) -> None:
        """Create the tables of the kept views, drop those of deleted views."""
        conn = self._connection(config)
        for view in tables_to_keep:
            conn.execute(_CREATE.format(table_name(config, view).replace('"', '""')))
        for view in tables_to_delete:
            conn.execute('DROP TABLE IF EXISTS "{}"'.format(
                table_name(config, view).replace('"', '""')))

    def teardown(self, config: RepoConfig, tables: Sequence[FeatureView],
                 entities: Sequence[Entity]) -> None:
        """Drop the tables of ``tables`` (other content of the file is left alone)."""
        self.update(config, tables, [], entities, [], partial=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class WideSqliteWriter:
    """Writes one row per entity into the tables of :class:`WideSqliteOnlineStore`.

    One transaction per view, so a reader sees the previous day or the new one, never half;
    a row never replaces a newer one, so replaying an old day after a newer one changes nothing.
    """

    def __init__(self, store: FeatureStore) -> None:
        self._config = store.config
        self._conn = connect(store.config)
        # The store is rebuilt from the offline tables if the machine dies mid-write: trade the
        # per-commit fsync for speed. SQLite's default page cache (2 MB) is enough: each batch
        # is upserted in key order, so the B-tree is walked front to back.
        self._conn.execute("PRAGMA synchronous=OFF")

    def framings(self, layout: ViewLayout) -> list[Framing]:
        """``Map.val`` entries, one per feature."""
        return [Framing(entry_prefix(name)) for name, _ in layout.features]

    def write(self, view: FeatureView, layout: ViewLayout, batches: Iterator[EncodedBatch]) -> int:
        """Upsert every batch in one transaction; returns the rows read."""
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
