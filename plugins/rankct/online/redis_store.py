"""Bulk writes into Feast's Redis online store, in Feast's own layout.

Feast keeps one hash per entity (key: serialized entity key + project), a field per feature
(murmur3 of ``view:feature``) holding the serialized ValueProto, and ``_ts:view`` holding the
serialized event timestamp. Its writer builds every command argument by argument in Python
(redis-py packs 58 arguments per row); here the commands are assembled from column-framed RESP
segments (:mod:`rankct.online.columnar`) and sent raw on one connection, pipelined across
batches so that Redis applies one batch while the next is encoded.

A row is written unless the hash holds a strictly newer ``_ts`` (a Lua script reads them for a
whole batch and returns only those that differ from the row's), so an older day never
overwrites a newer one and a re-run writes the same bytes. As in Feast, the check and the write
are two round trips: two writers racing on the same view could still interleave - materialize a
view from one process at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from rankct.errors import RankctError
from rankct.online.columnar import EncodedBatch, Framing, ViewLayout, fixed_width

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView


def bulk(value: bytes) -> bytes:
    """A RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _array_head(count: int, command: bytes) -> bytes:
    return b"*%d\r\n" % count + bulk(command)


# Rows whose hash holds another timestamp than the one being written: index (from 0) and stored
# value, flattened. One reply per script instead of one per row; the comparison stays in Python
# (a protobuf Timestamp does not order as bytes). A script blocks Redis while it runs, so each
# covers at most _CHECK_KEYS rows (a few milliseconds).
_CHECK_KEYS = 2048
_SEND_ROWS = 2048
_CHECK = """
local out = {}
for i = 1, #KEYS do
  local old = redis.call('HGET', KEYS[i], ARGV[1])
  if old and old ~= ARGV[i + 1] then
    out[#out + 1] = i - 1
    out[#out + 1] = old
  end
end
return out
"""


def _framed_keys(entity_keys: list[bytes], project: bytes) -> list[bytes]:
    """RESP bulk strings of the hash keys (entity key + project); one numpy fill when the keys
    have one length (integer join keys)."""
    widths = set(map(len, entity_keys))
    if len(widths) != 1:
        return [bulk(key + project) for key in entity_keys]
    width = widths.pop()
    body = np.frombuffer(b"".join(entity_keys), dtype=np.uint8).reshape(len(entity_keys), width)
    return fixed_width(b"$%d\r\n" % (width + len(project)), body, project + b"\r\n")


def _check_command(keys: list[bytes], ts_field: bytes, stamps: list[bytes]) -> bytes:
    """``EVAL _CHECK`` over framed ``keys`` with each row's framed timestamp."""
    return b"".join([b"*%d\r\n" % (4 + 2 * len(keys)), bulk(b"EVAL"), bulk(_CHECK.encode()),
                     bulk(b"%d" % len(keys)), *keys, ts_field, *stamps])


class RedisWriter:
    """Writes encoded batches of a view as ``HSET``s on one raw, pipelined connection."""

    def __init__(self, store: FeatureStore) -> None:
        from feast.infra.online_stores.redis import RedisOnlineStore, RedisType

        config = store.config.online_store
        if config.redis_type == RedisType.redis_cluster:
            # One connection carries every command; a cluster spreads keys over nodes.
            raise RankctError("bulk materialization does not support a Redis cluster",
                              hint="use `rankct features materialize --stock`")
        self._project = store.config.project.encode()
        self._ttl = config.key_ttl_seconds
        self._client = RedisOnlineStore()._get_client(config)

    def framings(self, layout: ViewLayout) -> list[Framing]:
        """RESP ``field value`` pairs: the field (murmur3 of ``view:feature``) is constant."""
        from feast.infra.online_stores.helpers import _mmh3

        def framing(name: str) -> Framing:
            field = bulk(_mmh3(f"{layout.name}:{name}"))
            return Framing(lambda n: field + b"$%d\r\n" % n, b"\r\n")
        return [framing(name) for name, _ in layout.features]

    def write(self, view: FeatureView, layout: ViewLayout, batches: Iterator[EncodedBatch]) -> int:
        """Write every row not older than what Redis holds; returns the rows read."""
        connection = self._client.connection_pool.get_connection()
        try:
            rows = self._write(connection, layout, batches)
        except BaseException:
            # Unread replies may be left on the connection: never hand it back to the pool.
            connection.disconnect()
            raise
        finally:
            self._client.connection_pool.release(connection)
        return rows

    def _write(self, connection: Any, layout: ViewLayout, batches: Iterator[EncodedBatch]) -> int:
        def send(payload: bytes) -> None:
            connection.send_packed_command([payload], check_health=False)

        ts_field = bulk(f"_ts:{layout.name}".encode())
        hset_head = _array_head(2 + 2 * (len(layout.features) + 1), b"HSET")
        expire = (_array_head(3, b"EXPIRE"), bulk(b"%d" % self._ttl)) if self._ttl else None
        rows, pending = 0, 0
        # Replies are read one batch late: Redis applies a batch while the next one is encoded.
        for batch in batches:
            keys = _framed_keys(batch.entity_keys, self._project)
            stamps = _timestamps(batch.micros)
            starts = range(0, len(keys), _CHECK_KEYS)
            send(b"".join(_check_command(keys[i:i + _CHECK_KEYS], ts_field,
                                         stamps[i:i + _CHECK_KEYS]) for i in starts))
            # The previous batch's HSET replies come first; reading them raises on an error.
            for _ in range(pending):
                connection.read_response(disable_decoding=True)
            changed = []
            for start in starts:
                found = connection.read_response(disable_decoding=True)
                changed += [(start + i, old) for i, old in zip(found[::2], found[1::2])]
            keep = _newest(batch.entity_keys, batch.micros, changed)
            commands = zip(itertools.repeat(hset_head), keys, *batch.columns,
                           itertools.repeat(ts_field), stamps)
            if keep is not None:
                commands = itertools.compress(commands, keep)
            if expire:  # as Feast does: the TTL restarts when a row is written
                commands = (row + (expire[0], row[1], expire[1]) for row in commands)
            # In slices, so that Redis starts on the first while Python joins the next.
            while chunk := b"".join(itertools.chain.from_iterable(
                    itertools.islice(commands, _SEND_ROWS))):
                send(chunk)
            pending = (len(keys) if keep is None else sum(keep)) * (2 if expire else 1)
            rows += len(keys)
        for _ in range(pending):
            connection.read_response(disable_decoding=True)
        return rows

    def close(self) -> None:
        self._client.close()


def _timestamps(micros: np.ndarray) -> list[bytes]:
    """Framed serialized ``google.protobuf.Timestamp`` of each row, computed per distinct value
    (a day's partition has one)."""
    from google.protobuf.timestamp_pb2 import Timestamp

    uniques, codes = np.unique(micros, return_inverse=True)
    framed = []
    for value in uniques.tolist():
        seconds, micro = divmod(value, 1_000_000)
        framed.append(bulk(Timestamp(seconds=seconds, nanos=micro * 1000).SerializeToString()))
    table = np.empty(len(framed), dtype=object)
    table[:] = framed
    return table[codes.ravel()].tolist()


def _newest(keys: list[bytes], micros: np.ndarray,
            changed: list[tuple[int, bytes]]) -> list[bool] | None:
    """Which rows to write: not older than the stored ``_ts`` (``changed``: row index and stored
    timestamp where it differs from the row's), and the newest (last among equals) of the
    batch's rows of one entity. ``None``: all of them (the usual case)."""
    parsed: dict[bytes, int] = {}  # a day's rows share one timestamp: parse each once
    stale = []
    for i, old in changed:
        if old not in parsed:
            parsed[old] = _nanos(old)
        if parsed[old] > int(micros[i]) * 1000:
            stale.append(i)
    duplicated = len(set(keys)) != len(keys)
    if not stale and not duplicated:
        return None
    keep = [True] * len(keys)
    for i in stale:
        keep[i] = False
    if duplicated:
        best: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            if keep[i] and (key not in best or micros[i] >= micros[best[key]]):
                best[key] = i
        keep = [False] * len(keys)
        for i in best.values():
            keep[i] = True
    return keep


def _nanos(serialized: bytes) -> int:
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.ParseFromString(serialized)
    return stamp.seconds * 1_000_000_000 + stamp.nanos
