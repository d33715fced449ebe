"""Drive the simulation day by day and write the raw-data contract and the hidden truth."""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankct.contract import EVENTS, IMPRESSIONS, ITEMS, SELLERS, USERS, partition_path, truth_path
from rankct.errors import RankctError
from rankct.io import write_partition
from rankct.simulate import faults as fault_lib
from rankct.simulate.traffic import EVENT_CODES, SURFACES, DayTraffic, TrafficParams, simulate_day
from rankct.simulate.world import (
    CATEGORIES,
    CONDITIONS,
    COUNTRIES,
    SIZED,
    SIZES,
    US_PER_DAY,
    Scale,
    World,
    brand_name,
    create_world,
    start_day,
)

SCALES: dict[str, Scale] = {
    "tiny": Scale(users=800, sellers=200, initial_items=3_000, new_items_per_day=300, brands=40,
                  requests_per_day=250, new_users_per_day=10),
    "small": Scale(users=6_000, sellers=1_500, initial_items=20_000, new_items_per_day=2_000,
                   brands=150, requests_per_day=2_400, new_users_per_day=60),
    "medium": Scale(users=120_000, sellers=25_000, initial_items=250_000,
                    new_items_per_day=25_000, brands=500, requests_per_day=48_000,
                    new_users_per_day=1_200),
    "large": Scale(users=1_200_000, sellers=250_000, initial_items=2_500_000,
                   new_items_per_day=250_000, brands=1_500, requests_per_day=480_000,
                   new_users_per_day=12_000),
}
DEFAULT_START = date(2026, 11, 1)


@dataclass
class SimulationSummary:
    out: Path
    days: list[date]
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    peak_memory_mb: float | None = None
    faults: dict[str, str] = field(default_factory=dict)

    @property
    def impressions_per_second(self) -> float:
        return self.rows.get("impressions", 0) / max(self.seconds, 1e-9)


def _ts(us: np.ndarray) -> pa.Array:
    return pa.array(us, pa.timestamp("us", tz="UTC"))


def _items_rows(world: World, idx: np.ndarray, updated_us: np.ndarray,
                brand_names: list[str]) -> pa.Table:
    """Full rows of ``idx`` as they stand now, stamped ``updated_at``."""
    sold = world.item_sold_us[idx]
    size = pa.array(np.array(SIZES)[world.item_size[idx]])
    return pa.table({
        "item_id": pa.array(idx + 1, pa.int64()),
        "seller_id": pa.array(world.item_seller[idx] + 1, pa.int64()),
        "category": pa.array(np.array(CATEGORIES)[world.item_category[idx]]),
        "brand": pa.array(brand_names, pa.string()).take(pa.array(world.item_brand[idx])),
        "size": pc.if_else(pa.array(SIZED[world.item_category[idx]]), size,
                           pa.scalar(None, pa.string())),
        "condition": pa.array(np.array(CONDITIONS)[world.item_condition[idx]]),
        "price": pa.array(world.item_price[idx], pa.float64()),
        "listed_at": _ts(world.item_listed_us[idx]),
        "sold_at": pa.array(np.where(sold >= 0, sold, 0), pa.timestamp("us", tz="UTC"),
                            mask=sold < 0),
        "photo_count": pa.array(world.item_photos[idx], pa.int32()),
        "updated_at": _ts(updated_us),
    }, schema=ITEMS.schema)


def _users_rows(world: World, idx: np.ndarray) -> pa.Table:
    signup = world.user_signup_us[idx]
    return pa.table({
        "user_id": pa.array(idx + 1, pa.int64()),
        "country": pa.array(np.array(COUNTRIES)[world.user_country[idx]]),
        "signup_at": _ts(signup),
        "updated_at": _ts(signup),
    }, schema=USERS.schema)


def _sellers_rows(world: World, idx: np.ndarray, updated_us: np.ndarray,
                  rating_sum: np.ndarray, rating_n: np.ndarray) -> pa.Table:
    rating = np.round(rating_sum / np.maximum(rating_n, 1), 3)
    return pa.table({
        "seller_id": pa.array(idx + 1, pa.int64()),
        "country": pa.array(np.array(COUNTRIES)[world.seller_country[idx]]),
        "rating": pa.array(rating, pa.float64(), mask=rating_n == 0),
        "updated_at": _ts(updated_us),
    }, schema=SELLERS.schema)


def _fact_tables(traffic: DayTraffic, day: date) -> tuple[pa.Table, pa.Table, pa.Table]:
    n_req = len(traffic.request_user)
    request_ids = pc.binary_join_element_wise(
        pa.scalar(f"r{day:%Y%m%d}-"), pc.utf8_lpad(pc.cast(pa.array(np.arange(n_req)), pa.string()),
                                                 7, "0"), "")
    req = pa.array(traffic.imp_request)
    impressions = pa.table({
        "request_id": request_ids.take(req),
        "user_id": pa.array(traffic.request_user[traffic.imp_request] + 1, pa.int64()),
        "item_id": pa.array(traffic.imp_item + 1, pa.int64()),
        "position": pa.array(traffic.imp_position, pa.int32()),
        "surface": pa.array(np.array(SURFACES)[traffic.request_surface]).take(req),
        "query": pa.array(traffic.request_query, pa.string()).take(req),
        "served_at": _ts(traffic.request_served_us[traffic.imp_request]),
    }, schema=IMPRESSIONS.schema)
    # Events sorted by time, as a log would be.
    order = np.lexsort((traffic.event_type, traffic.event_imp, traffic.event_us))
    ev_imp = pa.array(traffic.event_imp[order])
    events = pa.table({
        "request_id": impressions["request_id"].take(ev_imp),
        "user_id": impressions["user_id"].take(ev_imp),
        "item_id": impressions["item_id"].take(ev_imp),
        "event_type": pa.array(np.array(EVENT_CODES)[traffic.event_type[order]]),
        "event_at": _ts(traffic.event_us[order]),
    }, schema=EVENTS.schema)
    truth = pa.table({
        "request_id": impressions["request_id"],
        "item_id": impressions["item_id"],
        "position": impressions["position"],
        "utility": pa.array(traffic.imp_utility, pa.float64()),
        # The grade the user would have given had they examined the item: labels free of
        # position bias, to score any ordering against the oracle.
        "grade_if_examined": pa.array(traffic.imp_grade_if_examined, pa.int8()),
    })
    return impressions, events, truth


class _Backlog:
    """Change-log rows stamped after the day being written wait for the day they belong to."""

    def __init__(self) -> None:
        self.rows: dict[str, list[pa.Table]] = {"items": [], "sellers": []}

    def add(self, table: str, rows: pa.Table) -> None:
        self.rows[table].append(rows)

    def take(self, table: str, day_end: datetime, schema: pa.Schema) -> pa.Table:
        rows = pa.concat_tables(self.rows[table]) if self.rows[table] else schema.empty_table()
        due = pc.less(rows["updated_at"], pa.scalar(day_end, pa.timestamp("us", tz="UTC")))
        self.rows[table] = [rows.filter(pc.invert(due))]
        return rows.filter(due).sort_by([("updated_at", "ascending")])


def _parse_faults(faults: dict[str, str], start: date, days: int) -> dict[date, str]:
    by_day: dict[date, str] = {}
    for name, when in faults.items():
        if name not in fault_lib.FAULTS:
            raise RankctError(f"unknown fault {name!r}",
                              hint=f"choose one of: {', '.join(sorted(fault_lib.FAULTS))}")
        day = start + timedelta(days=int(when) - 1) if str(when).isdigit() else date.fromisoformat(str(when))
        if not start <= day < start + timedelta(days=days):
            raise RankctError(f"fault {name} is set for {day}, outside the simulated days "
                              f"{start}..{start + timedelta(days=days - 1)}")
        by_day[day] = name
    return by_day


def simulate(out: Path | str, days: int, scale: str = "small", seed: int = 0,
             start: date = DEFAULT_START, faults: dict[str, str] | None = None,
             params: TrafficParams | None = None, track_memory: bool = False,
             progress=None) -> SimulationSummary:
    """Simulate ``days`` days of a marketplace from ``start`` and write them under ``out``.

    ``faults`` maps a fault name to the day it hits (1-based day number or ISO date). The same
    arguments always produce the same bytes.
    """
    if scale not in SCALES:
        raise RankctError(f"unknown scale {scale!r}", hint=f"choose one of: {', '.join(SCALES)}")
    if days < 1:
        raise RankctError(f"--days must be at least 1, got {days}")
    out, cfg, params = Path(out), SCALES[scale], params or TrafficParams()
    fault_days = _parse_faults(faults or {}, start, days)
    rng = np.random.default_rng(seed)
    start_us = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp() * 1e6)
    if track_memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    world = create_world(cfg, start_us, rng)
    backlog = _Backlog()
    summary = SimulationSummary(out=out, days=[], faults={str(d): f for d, f in fault_days.items()})
    rows = {"impressions": 0, "events": 0, "items": 0, "users": 0, "sellers": 0}

    for d in range(days):
        day = start + timedelta(days=d)
        day_us = start_us + d * US_PER_DAY
        day_end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        added = start_day(world, cfg, day_us, rng)
        brand_names = [brand_name(b) for b in range(len(world.brand_category))]

        if d == 0:
            # The first partition of each change log is a snapshot of the marketplace so far.
            snapshot = np.flatnonzero(world.item_listed_us < day_us)
            backlog.add("items", _items_rows(world, snapshot, world.item_listed_us[snapshot],
                                             brand_names))
            everyone = np.arange(len(world.seller_country))
            backlog.add("sellers", _sellers_rows(world, everyone, np.full(len(everyone), day_us - 1),
                                                 world.seller_rating_sum, world.seller_rating_n))
        # Midnight repricing: some unsold listings drop their price by 10-25%..
        unsold = np.flatnonzero((world.item_sold_us < 0) & (world.item_listed_us < day_us))
        drops = unsold[rng.random(len(unsold)) < 0.015]
        world.item_price[drops] = np.round(world.item_price[drops]
                                           * rng.uniform(0.75, 0.9, len(drops)), 2)

        new = added["new_items"]
        backlog.add("items", _items_rows(world, new, world.item_listed_us[new], brand_names))
        backlog.add("items", _items_rows(world, drops, np.full(len(drops), day_us), brand_names))

        unsold_before = world.item_sold_us < 0
        def query_text(category: int, brand: int, names: list[str] = brand_names) -> str:
            return f"{names[brand].lower()} {CATEGORIES[category]}" if brand >= 0 \
                else CATEGORIES[category]

        traffic = simulate_day(world, day_us, int(rng.poisson(cfg.requests_per_day)), params, rng,
                               query_text)
        # Sales stamp their own change-log rows; one just before midnight may land tomorrow.
        sold = np.flatnonzero(unsold_before & (world.item_sold_us >= 0))
        backlog.add("items", _items_rows(world, sold, world.item_sold_us[sold], brand_names))
        backlog.add("sellers", _reviews(world, sold, rng))

        users = (np.arange(world.n_users) if d == 0 else added["new_users"])
        impressions, events, truth = _fact_tables(traffic, day)
        tables = {
            "impressions": impressions, "events": events,
            "items": backlog.take("items", day_end, ITEMS.schema),
            "users": _users_rows(world, users),
            "sellers": backlog.take("sellers", day_end, SELLERS.schema),
        }
        if day in fault_days:
            tables = fault_lib.inject(fault_days[day], tables, seed, d + 1)
        for name, table in tables.items():
            if table is not None:
                write_partition(table, partition_path(out, name, day))
                rows[name] += table.num_rows
        write_partition(truth, truth_path(out, day))
        summary.days.append(day)
        if progress:
            progress(day, impressions.num_rows, time.perf_counter() - t0)

    summary.seconds = time.perf_counter() - t0
    summary.rows = rows
    if track_memory:
        summary.peak_memory_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return summary


def _reviews(world: World, sold: np.ndarray, rng: np.random.Generator) -> pa.Table:
    """Buyers review the seller an hour after most purchases; the rating is the running mean."""
    reviewed = sold[rng.random(len(sold)) < 0.6]
    reviewed = reviewed[np.argsort(world.item_sold_us[reviewed], kind="stable")]
    sellers = world.item_seller[reviewed]
    stars = np.clip(np.round(world.seller_quality[sellers] + rng.normal(0, 0.6, len(sellers))), 1, 5)
    sums, counts = np.empty(len(sellers)), np.empty(len(sellers), dtype=np.int64)
    # Sequential on purpose: each row carries the running rating after that review.
    for i, (s, star) in enumerate(zip(sellers, stars)):
        world.seller_rating_sum[s] += star
        world.seller_rating_n[s] += 1
        sums[i], counts[i] = world.seller_rating_sum[s], world.seller_rating_n[s]
    stamps = world.item_sold_us[reviewed] + 3_600_000_000 + np.arange(len(reviewed))
    return _sellers_rows(world, sellers, stamps, sums, counts)
