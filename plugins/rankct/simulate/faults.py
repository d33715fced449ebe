"""Named data faults, injected into one simulated day to exercise the data gate.

Each fault takes the day's contract tables and returns damaged copies; it draws from its own
random stream so that injecting a fault never changes any other day's data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Tables = dict[str, pa.Table | None]


def _null_keys(t: Tables, rng: np.random.Generator) -> Tables:
    imp = t["impressions"]
    hit = pa.array(rng.random(imp.num_rows) < 0.02)
    user = pc.if_else(hit, pa.scalar(None, pa.int64()), imp["user_id"])
    t["impressions"] = imp.set_column(imp.schema.get_field_index("user_id"), "user_id", user)
    return t


def _duplicate_events(t: Tables, rng: np.random.Generator) -> Tables:
    ev = t["events"]
    dup = ev.take(pa.array(np.flatnonzero(rng.random(ev.num_rows) < 0.05)))
    t["events"] = pa.concat_tables([ev, dup])
    return t


def _missing_day(t: Tables, rng: np.random.Generator) -> Tables:
    t["impressions"] = None
    t["events"] = None
    return t


def _renamed_column(t: Tables, rng: np.random.Generator) -> Tables:
    imp = t["impressions"]
    t["impressions"] = imp.rename_columns(["itemId" if c == "item_id" else c
                                           for c in imp.column_names])
    return t


def _retyped_column(t: Tables, rng: np.random.Generator) -> Tables:
    items = t["items"]
    i = items.schema.get_field_index("price")
    t["items"] = items.set_column(i, "price", pc.cast(items["price"], pa.string()))
    return t


def _events_before_impression(t: Tables, rng: np.random.Generator) -> Tables:
    ev = t["events"]
    hit = pa.array(rng.random(ev.num_rows) < 0.05)
    earlier = pc.subtract(ev["event_at"], pa.scalar(timedelta(hours=3)))
    t["events"] = ev.set_column(ev.schema.get_field_index("event_at"), "event_at",
                                pc.if_else(hit, earlier, ev["event_at"]))
    return t


def _volume_drop(t: Tables, rng: np.random.Generator) -> Tables:
    # An upstream outage: only a tenth of the requests were logged.
    imp, ev = t["impressions"], t["events"]
    requests = pc.unique(imp["request_id"])
    kept = requests.filter(pa.array(rng.random(len(requests)) < 0.1))
    t["impressions"] = imp.filter(pc.is_in(imp["request_id"], kept))
    t["events"] = ev.filter(pc.is_in(ev["request_id"], kept))
    return t


def _orphan_items(t: Tables, rng: np.random.Generator) -> Tables:
    imp = t["impressions"]
    hit = pa.array(rng.random(imp.num_rows) < 0.02)
    unknown = pc.add(imp["item_id"], pa.scalar(10**12, pa.int64()))
    t["impressions"] = imp.set_column(imp.schema.get_field_index("item_id"), "item_id",
                                      pc.if_else(hit, unknown, imp["item_id"]))
    return t


FAULTS: dict[str, Callable[[Tables, np.random.Generator], Tables]] = {
    "null_keys": _null_keys,
    "duplicate_events": _duplicate_events,
    "missing_day": _missing_day,
    "renamed_column": _renamed_column,
    "retyped_column": _retyped_column,
    "events_before_impression": _events_before_impression,
    "volume_drop": _volume_drop,
    "orphan_items": _orphan_items,
}


def inject(fault: str, tables: Tables, seed: int, day_number: int) -> Tables:
    """Apply the named fault to a copy of one day's tables."""
    rng = np.random.default_rng([seed, day_number, sorted(FAULTS).index(fault), 7])
    return FAULTS[fault](dict(tables), rng)
