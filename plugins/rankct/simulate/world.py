"""Who and what exists in the simulated marketplace, and how it changes from day to day.

State is kept as column arrays (one numpy array per attribute) so a day of traffic is a handful of
vectorised operations rather than a Python loop per request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CATEGORIES = (
    "dresses", "tops", "jeans", "coats", "sneakers", "boots",
    "bags", "jewellery", "kids", "home", "books", "electronics",
)
# Reference price per category (EUR); an item's price is drawn around it.
CATEGORY_PRICE = np.array([25, 12, 22, 45, 40, 50, 35, 20, 10, 18, 8, 90], dtype=np.float64)
# Clothes and shoes have sizes that must fit the user; the rest do not.
SIZED = np.array([1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0], dtype=bool)
SIZES = ("XS", "S", "M", "L", "XL")
CONDITIONS = ("new_with_tags", "new", "very_good", "good", "satisfactory")
CONDITION_VALUE = np.array([0.6, 0.45, 0.2, 0.0, -0.4])
CONDITION_PRICE = np.array([1.3, 1.15, 1.0, 0.85, 0.6])
COUNTRIES = ("FR", "DE", "ES", "IT", "PL", "LT", "NL", "BE", "CZ", "UK")
TASTE_DIM = 8
US_PER_DAY = 86_400_000_000
_SYLLABLES = ("ka", "lo", "mi", "ra", "ven", "to", "za", "nel", "ori", "bu", "sa", "te", "lux", "fi")


@dataclass(frozen=True)
class Scale:
    """Size of a simulated marketplace; about ``requests_per_day * ~24`` impressions a day."""

    users: int
    sellers: int
    initial_items: int
    new_items_per_day: int
    brands: int
    requests_per_day: int
    new_users_per_day: int


def brand_name(index: int) -> str:
    """Deterministic, pronounceable brand name for a brand index."""
    parts, n = [], index + len(_SYLLABLES)
    while n:
        n, r = divmod(n, len(_SYLLABLES))
        parts.append(_SYLLABLES[r])
    return "".join(parts).capitalize()


@dataclass
class World:
    """Column arrays of users, sellers, brands and items; the index of a row is its id - 1."""

    # users
    user_country: np.ndarray
    user_signup_us: np.ndarray
    user_cat_taste: np.ndarray  # (users, categories), rows sum to 1
    user_vec: np.ndarray  # (users, TASTE_DIM) taste for brand styles
    user_size: np.ndarray
    user_price_sens: np.ndarray
    user_activity: np.ndarray  # relative request rate
    # sellers
    seller_country: np.ndarray
    seller_quality: np.ndarray  # true 1-5 star quality
    seller_rating_sum: np.ndarray
    seller_rating_n: np.ndarray
    # brands
    brand_category: np.ndarray
    brand_vec: np.ndarray
    brand_premium: np.ndarray
    brand_trend: np.ndarray
    brand_popularity: np.ndarray
    # items
    item_seller: np.ndarray
    item_category: np.ndarray
    item_brand: np.ndarray
    item_size: np.ndarray
    item_condition: np.ndarray
    item_price: np.ndarray
    item_photos: np.ndarray
    item_quality: np.ndarray
    item_listed_us: np.ndarray
    item_sold_us: np.ndarray  # -1 while unsold

    @property
    def n_users(self) -> int:
        return len(self.user_country)

    @property
    def n_items(self) -> int:
        return len(self.item_category)


def _new_users(n: int, signup_from_us: int, signup_to_us: int, rng: np.random.Generator) -> dict:
    n_cat = len(CATEGORIES)
    return {
        "user_country": rng.integers(0, len(COUNTRIES), n).astype(np.int16),
        "user_signup_us": np.sort(rng.integers(signup_from_us, signup_to_us, n)),
        "user_cat_taste": rng.dirichlet(np.full(n_cat, 0.35), n),
        "user_vec": rng.normal(0, 1, (n, TASTE_DIM)),
        "user_size": rng.integers(0, len(SIZES), n).astype(np.int8),
        "user_price_sens": rng.lognormal(-0.3, 0.5, n),
        # Heavy-tailed activity: a few users make many requests, most make few.
        "user_activity": rng.pareto(1.3, n) + 0.05,
    }


def _new_brands(n: int, rng: np.random.Generator, trend: float) -> dict:
    return {
        "brand_category": rng.integers(0, len(CATEGORIES), n).astype(np.int16),
        "brand_vec": rng.normal(0, 1, (n, TASTE_DIM)),
        "brand_premium": rng.lognormal(0, 0.35, n),
        "brand_trend": np.full(n, trend),
        "brand_popularity": rng.pareto(1.5, n) + 0.1,
    }


def _new_items(world: World, n: int, listed_from_us: int, listed_to_us: int,
               rng: np.random.Generator) -> dict:
    n_brands = len(world.brand_category)
    # Popular brands list more; recent trends make sellers list more of a brand.
    weight = world.brand_popularity * np.exp(world.brand_trend)
    brand = rng.choice(n_brands, n, p=weight / weight.sum())
    # Most items are in their brand's home category; some brands also sell a bit of everything.
    category = np.where(rng.random(n) < 0.85, world.brand_category[brand],
                        rng.integers(0, len(CATEGORIES), n)).astype(np.int16)
    condition = rng.choice(len(CONDITIONS), n, p=[0.1, 0.15, 0.35, 0.3, 0.1]).astype(np.int8)
    price = (CATEGORY_PRICE[category] * world.brand_premium[brand] * CONDITION_PRICE[condition]
             * rng.lognormal(0, 0.35, n))
    return {
        "item_seller": rng.integers(0, len(world.seller_country), n).astype(np.int64),
        "item_category": category,
        "item_brand": brand.astype(np.int32),
        "item_size": rng.integers(0, len(SIZES), n).astype(np.int8),
        "item_condition": condition,
        "item_price": np.round(np.maximum(price, 1.0), 2),
        "item_photos": rng.integers(1, 21, n).astype(np.int32),
        "item_quality": rng.normal(0, 0.5, n),
        "item_listed_us": np.sort(rng.integers(listed_from_us, listed_to_us, n)),
        "item_sold_us": np.full(n, -1, dtype=np.int64),
    }


def _append(world: World, columns: dict) -> None:
    for name, values in columns.items():
        setattr(world, name, np.concatenate([getattr(world, name), values]))


def create_world(scale: Scale, start_us: int, rng: np.random.Generator) -> World:
    """The marketplace as it stands at ``start_us``: users who signed up over the past year,
    sellers, brands, and a catalogue listed over the past 30 days."""
    users = _new_users(scale.users, start_us - 365 * US_PER_DAY, start_us, rng)
    n_sellers = scale.sellers
    quality = np.clip(rng.normal(4.3, 0.5, n_sellers), 1, 5)
    world = World(
        **users,
        seller_country=rng.integers(0, len(COUNTRIES), n_sellers).astype(np.int16),
        seller_quality=quality,
        seller_rating_sum=np.zeros(n_sellers),
        seller_rating_n=np.zeros(n_sellers, dtype=np.int64),
        **_new_brands(scale.brands, rng, trend=0.0),
        **{k: np.empty(0, dtype=v) for k, v in _ITEM_DTYPES.items()},
    )
    # Sellers with history already have a rating from a few past reviews.
    reviewed = rng.random(n_sellers) < 0.8
    world.seller_rating_n[reviewed] = rng.integers(1, 40, reviewed.sum())
    world.seller_rating_sum[reviewed] = world.seller_rating_n[reviewed] * np.clip(
        quality[reviewed] + rng.normal(0, 0.3, reviewed.sum()), 1, 5)
    _append(world, _new_items(world, scale.initial_items, start_us - 30 * US_PER_DAY, start_us, rng))
    return world


_ITEM_DTYPES = {
    "item_seller": np.int64, "item_category": np.int16, "item_brand": np.int32,
    "item_size": np.int8, "item_condition": np.int8, "item_price": np.float64,
    "item_photos": np.int32, "item_quality": np.float64, "item_listed_us": np.int64,
    "item_sold_us": np.int64,
}


def start_day(world: World, scale: Scale, day_start_us: int, rng: np.random.Generator) -> dict:
    """Advance the world to a new day: tastes drift, new brands appear, new users sign up and new
    items are listed during the day. Returns index ranges of what was added."""
    # Drift: every user's taste wanders a little, and category shares shift.
    world.user_vec += rng.normal(0, 0.06, world.user_vec.shape)
    taste = world.user_cat_taste * rng.lognormal(0, 0.08, world.user_cat_taste.shape)
    world.user_cat_taste = taste / taste.sum(axis=1, keepdims=True)
    # Trends fade; a few new brands arrive with a buzz.
    world.brand_trend *= 0.93
    n_new_brands = int(rng.integers(1, 4))
    first_brand = len(world.brand_category)
    _append(world, _new_brands(n_new_brands, rng, trend=0.8))

    first_user = world.n_users
    users = _new_users(scale.new_users_per_day, day_start_us, day_start_us + US_PER_DAY, rng)
    _append(world, users)

    first_item = world.n_items
    _append(world, _new_items(world, scale.new_items_per_day, day_start_us,
                              day_start_us + US_PER_DAY, rng))
    return {
        "new_users": np.arange(first_user, world.n_users),
        "new_items": np.arange(first_item, world.n_items),
        "new_brands": np.arange(first_brand, len(world.brand_category)),
    }
