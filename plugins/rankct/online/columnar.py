"""Feast's online encodings computed column by column over an arrow batch, for the feature
columns of a view as Feast's registry lays them out (:class:`ViewLayout`).

Writing a row to an online store means framing each feature's serialized ValueProto (a
``Map`` entry for the wide SQLite store, a RESP field/value pair for Redis). Doing that value by
value in Python is what makes Feast's materialization slow, so here each column is framed in one
go: doubles (mostly distinct) as fixed-width records built with numpy, every other type once per
distinct value with Feast's own converter, then spread over the rows with a numpy ``take``.
Entity keys get the same treatment. Every byte equals what Feast's row-wise code produces (the
integration tests compare them).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from feast import FeatureView

_DOUBLE_TAG = b"\x29"  # ValueProto.double_val is field 5, wire type 1 (fixed 64-bit)


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
class Framing:
    """How one feature's value is written: ``prefix(len(value)) + value + suffix``."""

    prefix: Callable[[int], bytes]
    suffix: bytes = b""

    def frame(self, value: bytes) -> bytes:
        return self.prefix(len(value)) + value + self.suffix


@dataclass
class EncodedBatch:
    """One batch of rows in online-store form."""

    entity_keys: list[bytes]  # Feast's serialized entity keys
    micros: np.ndarray  # event timestamps, int64 microseconds since the epoch (UTC)
    columns: list[list[bytes]]  # per feature, in the layout's order: the framed values


def fixed_width(prefix: bytes, body: np.ndarray, suffix: bytes = b"") -> list[bytes]:
    """Per row ``prefix + body[row] + suffix``, ``body`` a uint8 array [rows, width]: one numpy
    fill and one ``tolist`` instead of a bytes concatenation per row."""
    rows, width = body.shape
    start, end = len(prefix), len(prefix) + width
    out = np.empty((rows, end + len(suffix)), dtype=np.uint8)
    out[:, :start] = np.frombuffer(prefix, dtype=np.uint8)
    out[:, start:end] = body
    out[:, end:] = np.frombuffer(suffix, dtype=np.uint8)
    # A void scalar of the row's width converts to a bytes object holding all its bytes
    # (an "S" dtype would strip trailing NULs, which doubles often end with).
    return out.view(f"V{out.shape[1]}").ravel().tolist()


def _spread(per_unique: list[bytes], codes: np.ndarray) -> list[bytes]:
    table = np.empty(len(per_unique), dtype=object)
    table[:] = per_unique
    return table[codes].tolist()


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes, np.asarray(uniques, dtype=values.dtype)


def value_bytes(values: np.ndarray, value_type: Any) -> tuple[np.ndarray, list[bytes]]:
    """Feast's serialized ValueProto of each distinct value: ``(codes, bytes per unique)``."""
    from feast.type_map import python_values_to_proto_values

    codes, uniques = _factorize(values)
    protos = python_values_to_proto_values(uniques, value_type)
    return codes, [p.SerializeToString() for p in protos]


def framed_column(column: pa.Array | pa.ChunkedArray, value_type: Any,
                  framing: Framing) -> list[bytes]:
    """The framed serialized ValueProto of every row of ``column``."""
    from feast.value_type import ValueType

    values = column.to_numpy(zero_copy_only=False)
    if value_type == ValueType.DOUBLE and values.dtype == np.float64:
        # A double is its tag and 8 little-endian bytes; a null (NaN) is an empty ValueProto,
        # as Feast writes it.
        body = np.ascontiguousarray(values, dtype="<f8").view(np.uint8).reshape(-1, 8)
        framed = fixed_width(framing.prefix(9) + _DOUBLE_TAG, body, framing.suffix)
        missing = np.flatnonzero(np.isnan(values))
        if len(missing):
            empty = framing.frame(b"")
            for i in missing.tolist():
                framed[i] = empty
        return framed
    codes, uniques = value_bytes(values, value_type)
    return _spread([framing.frame(u) for u in uniques], codes)


def entity_keys(batch: pa.RecordBatch, join_keys: list[tuple[str, Any]]) -> list[bytes]:
    """Feast's entity-key serialization (version 3): key count, then each key name, then each
    value as type, length and bytes; ``join_keys`` sorted by name as Feast sorts them."""
    from feast.infra.key_encoding_utils import _serialize_val
    from feast.type_map import python_values_to_proto_values
    from feast.value_type import ValueType

    header = struct.pack("<I", len(join_keys)) + b"".join(
        struct.pack("<II", ValueType.STRING.value, len(name.encode())) + name.encode()
        for name, _ in join_keys)
    integers = {ValueType.INT64: "<i8", ValueType.INT32: "<i4"}
    parts: list[list[bytes]] = []
    for position, (name, value_type) in enumerate(join_keys):
        column = batch.column(name)
        prefix = header if position == 0 else b""
        if value_type in integers and column.null_count == 0 and pa.types.is_integer(column.type):
            dtype = integers[value_type]
            body = column.to_numpy().astype(dtype).view(np.uint8).reshape(len(column), -1)
            head = struct.pack("<II", value_type.value, body.shape[1])
            parts.append(fixed_width(prefix + head, body))
            continue
        codes, uniques = _factorize(column.to_numpy(zero_copy_only=False))
        segments = []
        for proto in python_values_to_proto_values(uniques, value_type):
            raw, serial_type = _serialize_val(proto.WhichOneof("val"), proto,
                                              entity_key_serialization_version=3)
            segments.append(prefix + struct.pack("<II", serial_type, len(raw)) + raw)
        parts.append(_spread(segments, codes))
    return parts[0] if len(parts) == 1 else list(map(b"".join, zip(*parts)))


def timestamps_micros(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """int64 microseconds since the epoch of a timestamp column (naive means UTC)."""
    unit = pa.timestamp("us", tz=getattr(column.type, "tz", None))
    return column.cast(unit, safe=False).cast(pa.int64()).to_numpy()


def encode_batch(batch: pa.RecordBatch, join_keys: list[tuple[str, Any]],
                 features: list[tuple[str, Any]], timestamp_field: str,
                 framings: list[Framing]) -> EncodedBatch:
    """Encode one arrow batch of a feature table, each feature framed by ``framings``."""
    columns = [framed_column(batch.column(name), value_type, framing)
               for (name, value_type), framing in zip(features, framings)]
    return EncodedBatch(entity_keys(batch, join_keys),
                        timestamps_micros(batch.column(timestamp_field)), columns)
