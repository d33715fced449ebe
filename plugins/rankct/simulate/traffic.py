"""One day of ranked traffic: requests, candidates, the logging policy, examination and events.

The day is processed in hourly slices. Each slice sees the catalogue as it stood when the slice
began; sales inside the slice are then resolved so that an item is bought once and never shown
after its sale. Everything is vectorised over the slice's impressions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rankct.simulate.world import (
    CATEGORY_PRICE,
    CONDITION_VALUE,
    SIZED,
    TASTE_DIM,
    US_PER_DAY,
    World,
)

SURFACES = ("search", "feed", "similar")
SURFACE_SHARE = (0.5, 0.35, 0.15)
LIST_LENGTH = {0: 24, 1: 20, 2: 12}  # by surface index; each request varies around it
EVENT_CODES = ("click", "favourite", "add_to_cart", "purchase")
SLICE_US = US_PER_DAY // 24
_HOUR_WEIGHT = 1.0 + 0.8 * np.sin((np.arange(24) - 8) / 24 * 2 * np.pi)


@dataclass
class TrafficParams:
    """Behaviour knobs. Position bias: P(examine | position p) = p ** -examination_eta."""

    examination_eta: float = 0.8
    attribution_window_us: int = 120 * 60 * 1_000_000
    brand_query_share: float = 0.35
    explore_share: float = 0.2
    utility_noise: float = 0.7
    policy_utility_weight: float = 0.35
    policy_noise: float = 1.0


@dataclass
class DayTraffic:
    """Column arrays of a simulated day, before they become contract tables."""

    request_user: np.ndarray
    request_surface: np.ndarray
    request_query: list[str | None]
    request_served_us: np.ndarray
    imp_request: np.ndarray
    imp_item: np.ndarray
    imp_position: np.ndarray
    imp_utility: np.ndarray
    imp_grade_if_examined: np.ndarray
    event_imp: np.ndarray
    event_type: np.ndarray
    event_us: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _grouped_pool(pool: np.ndarray, keys: np.ndarray, n_groups: int):
    """Pool items sorted by a group key, with each group's offset and size, for O(1) sampling."""
    order = np.argsort(keys[pool], kind="stable")
    counts = np.bincount(keys[pool], minlength=n_groups)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return pool[order], offsets, counts


def _pick(grouped, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random pool item of each requested group; -1 where the group is empty."""
    items, offsets, counts = grouped
    n = counts[groups]
    pos = offsets[groups] + (rng.random(groups.shape) * np.maximum(n, 1)).astype(np.int64)
    return np.where(n > 0, items[np.minimum(pos, len(items) - 1)], -1)


def _sample_rows(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling per row: ``cdf`` (rows, k), ``u`` (rows, m) -> indices (rows, m)."""
    return np.minimum((u[..., None] > cdf[:, None, :]).sum(-1), cdf.shape[1] - 1)


def utility(world: World, users: np.ndarray, items: np.ndarray,
            query_brand: np.ndarray) -> np.ndarray:
    """Hidden expected utility of showing ``items`` to ``users`` (noise-free)."""
    cat = world.item_category[items]
    brand = world.item_brand[items]
    n_cat = world.user_cat_taste.shape[1]
    taste = np.log(world.user_cat_taste[users, cat] * n_cat + 1e-3)
    style = np.einsum("ij,ij->i", world.user_vec[users], world.brand_vec[brand]) / np.sqrt(TASTE_DIM)
    size_fit = np.where(SIZED[cat], np.where(world.item_size[items] == world.user_size[users],
                                             0.5, -0.4), 0.0)
    rating = world.seller_rating_sum / np.maximum(world.seller_rating_n, 1)
    seller = world.item_seller[items]
    seller_term = np.where(world.seller_rating_n[seller] > 0, 0.3 * (rating[seller] - 4.3), -0.1)
    price = -world.user_price_sens[users] * np.log(world.item_price[items] / CATEGORY_PRICE[cat])
    return (0.7 * taste + 0.8 * style + size_fit + CONDITION_VALUE[world.item_condition[items]]
            + 0.1 * np.sqrt(world.item_photos[items]) + seller_term + price
            + world.item_quality[items] + world.brand_trend[brand]
            + 0.9 * (brand == query_brand) - 0.5)


def _logging_policy(world: World, items: np.ndarray, util: np.ndarray, served_us: np.ndarray,
                    params: TrafficParams, rng: np.random.Generator) -> np.ndarray:
    """Score of the production ranker that logged the data: popularity, freshness and a weak,
    noisy view of the utility. It is deliberately imperfect, as production rankers are."""
    brand = world.item_brand[items]
    age_days = (served_us - world.item_listed_us[items]) / US_PER_DAY
    return (params.policy_utility_weight * (util + rng.normal(0, params.policy_noise, len(items)))
            + 0.3 * np.log(world.brand_popularity[brand]) + 0.6 * np.exp(-age_days / 5)
            + 0.02 * world.item_photos[items])


def _candidates(world: World, pool: np.ndarray, users: np.ndarray, surface: np.ndarray,
                params: TrafficParams, rng: np.random.Generator):
    """Candidate items per request slot, the query brand (-1 if none) and the query category."""
    n_cat = world.user_cat_taste.shape[1]
    n_req = len(users)
    by_cat = _grouped_pool(pool, world.item_category.astype(np.int64), n_cat)
    by_brand = _grouped_pool(pool, world.item_brand.astype(np.int64), len(world.brand_category))
    lengths = np.array([LIST_LENGTH[s] for s in surface]) + rng.integers(-4, 5, n_req)
    width = int(lengths.max())
    cdf = np.cumsum(world.user_cat_taste[users], axis=1)

    # Feed: each slot from a category the user likes, with some exploration.
    slot_cat = _sample_rows(cdf, rng.random((n_req, width)))
    explore = rng.random((n_req, width)) < params.explore_share
    slot_cat = np.where(explore, rng.integers(0, n_cat, (n_req, width)), slot_cat)

    # Search and similar: one category for the whole list (the query's, or the anchor's).
    query_cat = _sample_rows(cdf, rng.random((n_req, 1)))[:, 0]
    anchor = _pick(by_cat, query_cat, rng)
    anchor_brand = np.where(anchor >= 0, world.item_brand[np.maximum(anchor, 0)], -1)
    is_search, is_similar = surface == 0, surface == 2
    query_brand = np.where(is_search & (rng.random(n_req) < params.brand_query_share),
                           anchor_brand, -1)
    query_brand = np.where(is_similar, anchor_brand, query_brand)
    slot_cat = np.where((is_search | is_similar)[:, None], query_cat[:, None], slot_cat)

    items = _pick(by_cat, slot_cat.ravel(), rng).reshape(n_req, width)
    # Half of a brand query's slots, and a third of a similar list, come from that brand.
    brand_slot = (query_brand[:, None] >= 0) & (rng.random((n_req, width))
                                                < np.where(is_search, 0.5, 0.3)[:, None])
    brand_items = _pick(by_brand, np.repeat(np.maximum(query_brand, 0), width), rng)
    items = np.where(brand_slot & (brand_items.reshape(n_req, width) >= 0),
                     brand_items.reshape(n_req, width), items)
    valid = (np.arange(width)[None, :] < lengths[:, None]) & (items >= 0)
    valid &= ~(is_similar[:, None] & (items == anchor[:, None]))
    return items, valid, query_brand, query_cat


def simulate_slice(world: World, slice_start_us: int, users: np.ndarray,
                   surface: np.ndarray, served_us: np.ndarray, params: TrafficParams,
                   rng: np.random.Generator) -> dict:
    """Impressions and events of the requests served in one slice."""
    sold = world.item_sold_us
    pool = np.flatnonzero((world.item_listed_us <= slice_start_us)
                          & ((sold < 0) | (sold > slice_start_us)))
    items, valid, query_brand, query_cat = _candidates(world, pool, users, surface, params, rng)
    req_local, slot = np.nonzero(valid)
    item = items[req_local, slot]
    # A list shows an item once: keep the first slot of each (request, item) pair.
    _, first = np.unique(req_local * np.int64(world.n_items) + item, return_index=True)
    first.sort()
    req_local, item = req_local[first], item[first]

    user = users[req_local]
    served = served_us[req_local]
    util = utility(world, user, item, query_brand[req_local])
    score = _logging_policy(world, item, util, served, params, rng)
    order = np.lexsort((-score, req_local))
    req_local, item, user, served, util = (a[order] for a in (req_local, item, user, served, util))
    starts = np.flatnonzero(np.r_[True, req_local[1:] != req_local[:-1]])
    position = np.arange(len(item)) - np.repeat(starts, np.diff(np.r_[starts, len(item)])) + 1

    # What the user would do with each item if they looked at it, driven by the noisy utility...
    n = len(item)
    noisy = util + rng.normal(0, params.utility_noise, n)
    would_click = rng.random(n) < _sigmoid(noisy - 2.0)
    would_favourite = would_click & (rng.random(n) < _sigmoid(noisy - 2.5))
    would_cart = would_click & (rng.random(n) < _sigmoid(noisy - 3.0))
    would_buy = would_click & (rng.random(n) < 0.5 * _sigmoid(noisy - 3.0))
    # ...and what is logged: only what they examined, which falls with the position.
    examined = rng.random(n) < position.astype(np.float64) ** -params.examination_eta
    click, favourite = examined & would_click, examined & would_favourite
    cart, purchase = examined & would_cart, examined & would_buy
    grade_if_examined = np.select([would_buy, would_cart | would_favourite, would_click],
                                  [3, 2, 1], 0).astype(np.int8)

    cap = served + params.attribution_window_us - 60_000_000
    click_us = served + 1_000_000 + rng.exponential(20e6, n).astype(np.int64)
    times = [np.minimum(click_us + rng.exponential(s, n).astype(np.int64), cap)
             for s in (0.0, 60e6, 120e6, 900e6)]
    flags = (click, favourite, cart, purchase)
    ev_imp = np.concatenate([np.flatnonzero(f) for f in flags])
    ev_type = np.concatenate([np.full(f.sum(), code, np.int8) for code, f in enumerate(flags)])
    ev_us = np.concatenate([t[f] for t, f in zip(times, flags)])

    keep_imp, keep_ev = _resolve_sales(world, item, served, ev_imp, ev_type, ev_us)
    return {
        "req_local": req_local, "item": item, "position": position, "utility": util,
        "grade_if_examined": grade_if_examined,
        "keep_imp": keep_imp, "ev_imp": ev_imp[keep_ev], "ev_type": ev_type[keep_ev],
        "ev_us": ev_us[keep_ev], "query_brand": query_brand, "query_cat": query_cat,
    }


def _resolve_sales(world: World, item: np.ndarray, served: np.ndarray, ev_imp: np.ndarray,
                   ev_type: np.ndarray, ev_us: np.ndarray):
    """Sell each item at its first purchase; drop later purchases and later impressions of it.

    Updates ``world.item_sold_us`` and returns keep-masks for the impressions and the events.
    """
    is_purchase = ev_type == 3
    p_idx = np.flatnonzero(is_purchase)
    p_item, p_us = item[ev_imp[p_idx]], ev_us[p_idx]
    order = np.lexsort((p_us, p_item))
    p_idx, p_item, p_us = p_idx[order], p_item[order], p_us[order]
    first = np.r_[True, p_item[1:] != p_item[:-1]] if len(p_item) else np.zeros(0, bool)
    # An item sold in an earlier slice cannot be bought again.
    winner = first & (world.item_sold_us[p_item] < 0)
    world.item_sold_us[p_item[winner]] = p_us[winner]

    sold_at = world.item_sold_us[item]
    keep_imp = (sold_at < 0) | (served <= sold_at)
    keep_ev = keep_imp[ev_imp]
    keep_ev[p_idx[~winner]] = False
    return keep_imp, keep_ev


def simulate_day(world: World, day_start_us: int, n_requests: int,
                 params: TrafficParams, rng: np.random.Generator, query_text) -> DayTraffic:
    """All requests of one day. ``query_text(category, brand)`` renders a search query."""
    hours = rng.choice(24, n_requests, p=_HOUR_WEIGHT / _HOUR_WEIGHT.sum())
    served_us = np.sort(day_start_us + hours * SLICE_US
                        + rng.integers(0, SLICE_US, n_requests))
    cdf = np.cumsum(world.user_activity)
    users = np.searchsorted(cdf, rng.random(n_requests) * cdf[-1])
    # A user cannot make a request before signing up (signups are sorted by time).
    signed_up = np.searchsorted(world.user_signup_us, served_us, side="right")
    users = np.where(users < signed_up, users, users % np.maximum(signed_up, 1))
    surface = rng.choice(3, n_requests, p=SURFACE_SHARE)

    parts, queries = [], [None] * n_requests
    slice_of = (served_us - day_start_us) // SLICE_US
    bounds = np.searchsorted(slice_of, np.arange(25))
    for h in range(24):
        lo, hi = bounds[h], bounds[h + 1]
        if lo == hi:
            continue
        part = simulate_slice(world, day_start_us + h * SLICE_US, users[lo:hi],
                              surface[lo:hi], served_us[lo:hi], params, rng)
        part["offset"] = lo
        parts.append(part)
        for r in np.flatnonzero(surface[lo:hi] == 0):
            queries[lo + r] = query_text(int(part["query_cat"][r]), int(part["query_brand"][r]))

    imp_request, imp_item, imp_position, imp_utility, imp_grade = [], [], [], [], []
    ev_imp, ev_type, ev_us, base = [], [], [], 0
    for part in parts:
        keep = part["keep_imp"]
        # Renumber positions after dropping items sold earlier in the slice: the list as served.
        new_index = np.cumsum(keep) - 1
        req = part["req_local"][keep] + part["offset"]
        starts = np.flatnonzero(np.r_[True, req[1:] != req[:-1]]) if len(req) else req
        imp_request.append(req)
        imp_item.append(part["item"][keep])
        imp_position.append(np.arange(len(req)) - np.repeat(starts, np.diff(np.r_[starts, len(req)]))
                            + 1)
        imp_utility.append(part["utility"][keep])
        imp_grade.append(part["grade_if_examined"][keep])
        ev_imp.append(new_index[part["ev_imp"]] + base)
        ev_type.append(part["ev_type"])
        ev_us.append(part["ev_us"])
        base += len(req)
    cat = np.concatenate
    return DayTraffic(
        request_user=users, request_surface=surface, request_query=queries,
        request_served_us=served_us, imp_request=cat(imp_request), imp_item=cat(imp_item),
        imp_position=cat(imp_position).astype(np.int32), imp_utility=cat(imp_utility),
        imp_grade_if_examined=cat(imp_grade),
        event_imp=cat(ev_imp), event_type=cat(ev_type), event_us=cat(ev_us),
    )
