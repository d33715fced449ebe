"""One row of the wide SQLite online store (:mod:`rankct.online.sqlite_store`): every feature of
an entity in one blob, and its timestamps as integers.

The blob is a serialized ``feast.types.Map`` (``map<string, Value>``), entries in the view's
feature order, each value the ValueProto bytes Feast's own store would hold for that feature.
Timestamps are microseconds since the epoch (UTC), so that SQL can compare them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from feast.protos.feast.types.Value_pb2 import Map as MapProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


@functools.lru_cache(maxsize=4096)
def entry_prefix(name: str) -> Callable[[int], bytes]:
    """``prefix(n)``: the bytes of a ``Map.val`` entry for feature ``name`` that precede an
    ``n``-byte serialized ValueProto (entry tag and length, key field, value tag and length)."""
    key = name.encode()
    key_field = b"\x0a" + _varint(len(key)) + key

    def prefix(n: int) -> bytes:
        value_head = b"\x12" + _varint(n)
        return b"\x0a" + _varint(len(key_field) + len(value_head) + n) + key_field + value_head
    return prefix


def encode_features(values: dict[str, bytes], order: Sequence[str]) -> bytes:
    """The blob of one row: serialized values by feature name, entries in ``order`` first."""
    known = set(order)
    names = [n for n in order if n in values] + [n for n in values if n not in known]
    return b"".join(entry_prefix(n)(len(values[n])) + values[n] for n in names)


def decode_features(blob: bytes) -> dict[str, ValueProto]:
    """Feature name -> ValueProto of one row."""
    parsed = MapProto()
    parsed.ParseFromString(blob)
    return dict(parsed.val)


def to_micros(ts: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is UTC, as Feast assumes."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime of :func:`to_micros`' result."""
    return _EPOCH + timedelta(microseconds=micros)
