"""The raw-data contract: the tables a user's data must provide, their columns, types and keys.

Layout: ``<data_root>/raw/<table>/dt=YYYY-MM-DD/*.parquet`` plus a ``_SUCCESS`` marker written
last, so a reader can tell a complete partition from one still being written. Timestamps are UTC.
The simulator's hidden true utility lives under ``<data_root>/truth/``, outside ``raw/``, so no
feature job can read it by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa

SURFACES = ("search", "feed", "similar")
EVENT_TYPES = ("click", "favourite", "add_to_cart", "purchase")
SUCCESS_MARKER = "_SUCCESS"
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


IMPRESSIONS = Table(
    "impressions",
    (
        Column("request_id", pa.string(), doc="one ranking request"),
        Column("user_id", pa.int64()),
        Column("item_id", pa.int64()),
        Column("position", pa.int32(), nullable=True, doc="1-based slot; null if unknown"),
        Column("surface", pa.string(), doc="search | feed | similar"),
        Column("query", pa.string(), nullable=True, doc="search text; null off search"),
        Column("served_at", TIMESTAMP),
    ),
    key=("request_id", "item_id"),
    doc="Items shown to a user in one ranked list, partitioned by the date of served_at.",
)

EVENTS = Table(
    "events",
    (
        Column("request_id", pa.string()),
        Column("user_id", pa.int64()),
        Column("item_id", pa.int64()),
        Column("event_type", pa.string(), doc="click | favourite | add_to_cart | purchase"),
        Column("event_at", TIMESTAMP),
    ),
    key=("request_id", "item_id", "event_type", "event_at"),
    doc=(
        "Interactions attributed to an impression, partitioned by the date of the request they "
        "belong to (an event just after midnight stays with yesterday's request)."
    ),
)

ITEMS = Table(
    "items",
    (
        Column("item_id", pa.int64()),
        Column("seller_id", pa.int64()),
        Column("category", pa.string()),
        Column("brand", pa.string()),
        Column("size", pa.string(), nullable=True),
        Column("condition", pa.string()),
        Column("price", pa.float64()),
        Column("listed_at", TIMESTAMP),
        Column("sold_at", TIMESTAMP, nullable=True),
        Column("photo_count", pa.int32()),
        Column("updated_at", TIMESTAMP),
    ),
    key=("item_id", "updated_at"),
    doc="Change log: a row per listing or change; the latest row as of a time is the item then.",
)

USERS = Table(
    "users",
    (
        Column("user_id", pa.int64()),
        Column("country", pa.string()),
        Column("signup_at", TIMESTAMP),
        Column("updated_at", TIMESTAMP),
    ),
    key=("user_id", "updated_at"),
    doc="Change log of users.",
)

SELLERS = Table(
    "sellers",
    (
        Column("seller_id", pa.int64()),
        Column("country", pa.string()),
        Column("rating", pa.float64(), nullable=True, doc="1-5 stars; null before a first review"),
        Column("updated_at", TIMESTAMP),
    ),
    key=("seller_id", "updated_at"),
    doc="Change log of sellers (rating updates).",
)

TABLES: dict[str, Table] = {t.name: t for t in (IMPRESSIONS, EVENTS, ITEMS, USERS, SELLERS)}


def partition_path(data_root: Path | str, table: str, day: date) -> Path:
    """Folder of one daily partition of a raw table."""
    return Path(data_root) / "raw" / table / f"dt={day.isoformat()}"


def truth_path(data_root: Path | str, day: date) -> Path:
    """Folder of the simulator's hidden true utility for one day (never read by features)."""
    return Path(data_root) / "truth" / "utility" / f"dt={day.isoformat()}"


def list_partitions(data_root: Path | str, table: str) -> list[date]:
    """Dates of the complete partitions of ``table`` (those with a success marker), sorted."""
    base = Path(data_root) / "raw" / table
    if not base.is_dir():
        return []
    days = []
    for child in base.iterdir():
        if child.name.startswith("dt=") and (child / SUCCESS_MARKER).exists():
            days.append(date.fromisoformat(child.name[3:]))
    return sorted(days)
