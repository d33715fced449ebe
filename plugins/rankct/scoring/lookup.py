"""The day's feature tables held in memory, gathered into model rows per (user, item) pair.

The alternative to joining the tables onto the candidate pairs in Spark (``frame.scoring_rows``):
the four tables travel to the Python workers once, as float32 matrices in a broadcast, and only
the pairs' keys cross from the JVM. Turning ~45 features a row into Arrow cost the JVM more than
the joins (2.5 CPU-us a row against 0.6 us for the keys, bench/scoring.py), and the wide joins
were most of the batch job. The values are the ones the join path gives, bit for bit: the same
left joins (a missing row gives missing values), the same float32 cast, the same request-time
functions. Tables too large to hold in every worker take the join path instead
(:func:`lookup_bytes` says how large these would be).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from rankct.errors import RankctError
from rankct.features import request_time
from rankct.scoring.frame import BATCH_QUERY, check_columns, not_numeric

# The tables in the order the join path joins them, with the keys each is joined on. A model
# feature is read from the first table that has it, as the join's column would be.
TABLE_KEYS = {"item_features": ("item_id",), "user_features": ("user_id",),
              "user_category_affinity": ("user_id", "category"),
              "user_brand_affinity": ("user_id", "brand")}
# What the item table carries beyond its features: the affinity join keys of each item.
ITEM_KEYS = ("item_id", "item_category", "item_brand")
# Bytes a table row costs in memory beyond its float32 features: an int64 key in the index and
# its hash table entry, a few int32 codes.
ROW_OVERHEAD_BYTES = 32


def _numeric(frame: pd.DataFrame, columns: list[str], table: str) -> None:
    """RankctError naming model features that are not numeric: a cast would score them missing."""
    wrong = [c for c in columns if not (is_numeric_dtype(frame[c]) or is_bool_dtype(frame[c]))]
    if wrong:
        raise not_numeric(wrong, f"the feature table {table}")


def _float32(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """``columns`` as a float32 matrix plus one all-NaN last row: index -1 (a key not found)
    reads missing values, as a left join's null does."""
    matrix = np.full((len(frame) + 1, len(columns)), np.nan, dtype=np.float32)
    for j, name in enumerate(columns):
        # The cast feature_matrix and the JVM make: round to nearest, null to NaN.
        matrix[:-1, j] = frame[name].to_numpy(np.float32, na_value=np.nan)
    return matrix


def _unique_index(keys: np.ndarray, table: str) -> pd.Index:
    index = pd.Index(keys)
    if not index.is_unique:
        raise RankctError(f"feature table {table} has {int(index.duplicated().sum())} duplicate "
                          "keys: a join would score those pairs more than once",
                          hint="rebuild the day's feature tables with `rankct features build`")
    return index


class FeatureLookup:
    """Model rows for (user, item) pairs, from the day's four feature tables held in memory.

    Build it in the driver from the tables (pandas, or :meth:`read` from their files); it pickles
    small (numpy arrays and key indexes: what a Spark broadcast sends) and answers
    :meth:`matrix` in a worker without any table lookup but hashing each pair's keys.
    """

    def __init__(self, feature_names: list[str], tables: dict[str, pd.DataFrame],
                 query: str = BATCH_QUERY) -> None:
        names = list(feature_names)
        # A null key joins nothing (SQL equality): such rows can never be read.
        tables = {table: frame.dropna(subset=list(TABLE_KEYS[table])).reset_index(drop=True)
                  for table, frame in tables.items()}
        check_columns([c for frame in tables.values() for c in frame.columns], names)
        self.feature_names = names
        owner: dict[str, str] = {}
        for table, frame in tables.items():
            for column in frame.columns:
                if column not in TABLE_KEYS[table] and column not in ITEM_KEYS:
                    owner.setdefault(column, table)
        self._slots = {table: [j for j, n in enumerate(names) if owner.get(n) == table]
                       for table in TABLE_KEYS}
        items, users = tables["item_features"], tables["user_features"]
        category, brand = tables["user_category_affinity"], tables["user_brand_affinity"]
        for table, slots in self._slots.items():
            _numeric(tables[table], [names[j] for j in slots], table)
        self._values = {table: _float32(tables[table], [names[j] for j in slots])
                        for table, slots in self._slots.items()}

        self._items = _unique_index(items["item_id"].to_numpy(np.int64), "item_features")
        # Users: those with features first (code = row), then users only the affinities know.
        known = users["user_id"].to_numpy(np.int64)
        others = np.setdiff1d(np.concatenate([category["user_id"].to_numpy(np.int64),
                                              brand["user_id"].to_numpy(np.int64)]), known)
        self._users = _unique_index(np.concatenate([known, others]), "user_features")
        pad = np.full((len(others), self._values["user_features"].shape[1]), np.nan, np.float32)
        self._values["user_features"] = np.concatenate(
            [self._values["user_features"][:-1], pad, self._values["user_features"][-1:]])

        # (user, category) and (user, brand) as one int64 key: user code x vocabulary + code.
        self._affinity: dict[str, tuple[pd.Index, np.ndarray, int]] = {}
        for table, frame, key, item_key in (
                ("user_category_affinity", category, "category", "item_category"),
                ("user_brand_affinity", brand, "brand", "item_brand")):
            vocabulary = pd.Index(pd.unique(pd.concat([frame[key], items[item_key]]).dropna()))
            size = max(len(vocabulary), 1)
            codes = (self._users.get_indexer(frame["user_id"].to_numpy(np.int64)) * size
                     + vocabulary.get_indexer(frame[key]))
            # An item without a category has code -1: it matches no key (see matrix).
            item_codes = vocabulary.get_indexer(items[item_key]).astype(np.int64)
            self._affinity[table] = (_unique_index(codes, table), item_codes, size)

        # Request-time inputs stay float64 until the function has run, as in the join path.
        self._price = items["price"].to_numpy(np.float64, na_value=np.nan) \
            if "price_to_user_median" in names else None
        median = "user_median_purchase_price_30d"
        self._median = np.concatenate([users[median].to_numpy(np.float64, na_value=np.nan),
                                       np.full(len(others) + 1, np.nan)]) \
            if "price_to_user_median" in names else None
        # One query for every pair: a match is the item's (the functions match each distinct
        # category or brand once).
        self._match: dict[str, np.ndarray] = {}
        queries = pd.Series(query, index=items.index, dtype="object")
        for name, column, match_of in (
                ("query_category_match", "item_category", request_time.query_category_match),
                ("query_brand_match", "item_brand", request_time.query_brand_match)):
            if name in names:
                self._match[name] = match_of(queries, items[column]).to_numpy(np.float32)
        # Sizes as object arrays (strings or None), the user's padded like the median.
        self._sizes = (items["item_size"].to_numpy(object),
                       np.concatenate([users["user_top_size"].to_numpy(object),
                                       np.full(len(others) + 1, None, dtype=object)])) \
            if "size_fit" in names else None

    @classmethod
    def read(cls, feature_names: list[str], paths: dict[str, Path],
             query: str = BATCH_QUERY) -> FeatureLookup:
        """The lookup of the tables stored at ``paths`` (table name -> parquet directory),
        reading only the columns the model needs."""
        import pyarrow.dataset as ds

        wanted = set(feature_names) | set(ITEM_KEYS) | {"price", "user_median_purchase_price_30d",
                                                         "item_size", "user_top_size"}
        tables = {}
        for table, path in paths.items():
            dataset = ds.dataset(str(path), format="parquet")
            columns = [c for c in dataset.schema.names if c in wanted or c in TABLE_KEYS[table]]
            tables[table] = dataset.to_table(columns=columns).to_pandas()
        return cls(feature_names, tables, query)

    @property
    def nbytes(self) -> int:
        """Bytes the lookup holds in memory (each worker holds one)."""
        arrays = [*self._values.values(), *(codes for _, codes, _ in self._affinity.values()),
                  *(a for a in (self._price, self._median) if a is not None),
                  *self._match.values()]
        return sum(a.nbytes for a in arrays) + ROW_OVERHEAD_BYTES * (
            len(self._items) + len(self._users) + sum(len(i) for i, _, _ in self._affinity.values()))

    def matrix(self, user_ids: np.ndarray, item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(float32 model matrix, mask of the pairs it holds rows for).

        A pair whose item has no features is left out, as the join path's inner join leaves it;
        a missing user, category or brand row gives missing values.
        """
        item_rows = self._items.get_indexer(item_ids)
        known = item_rows >= 0
        if not known.all():
            item_rows, user_ids = item_rows[known], user_ids[known]
        user_codes = self._users.get_indexer(user_ids)
        rows = {"item_features": item_rows, "user_features": user_codes}
        for table, (index, item_codes, size) in self._affinity.items():
            codes = item_codes[item_rows]
            keys = np.where((user_codes < 0) | (codes < 0), -1, user_codes * size + codes)
            rows[table] = index.get_indexer(keys)
        out = np.empty((len(item_rows), len(self.feature_names)), dtype=np.float32)
        for table, slots in self._slots.items():
            if slots:
                out[:, slots] = self._values[table][rows[table]]
        for j, name in enumerate(self.feature_names):
            if name == "price_to_user_median":
                out[:, j] = request_time.price_to_user_median(
                    pd.Series(self._price[item_rows]),
                    pd.Series(self._median[user_codes])).to_numpy(np.float32)
            elif name in self._match:
                out[:, j] = self._match[name][item_rows]
            elif name == "size_fit":
                item_sizes, user_sizes = self._sizes
                out[:, j] = request_time.size_fit(
                    pd.Series(item_sizes[item_rows]),
                    pd.Series(user_sizes[user_codes])).to_numpy(np.float32)
        return out, known


def lookup_bytes(feature_names: list[str], paths: dict[str, Path]) -> int:
    """What :class:`FeatureLookup` of the tables at ``paths`` would hold, from their row counts
    (parquet metadata: nothing is read)."""
    import pyarrow.dataset as ds

    total = 0
    for path in paths.values():
        dataset = ds.dataset(str(path), format="parquet")
        columns = sum(1 for c in dataset.schema.names if c in feature_names)
        # + the request-time inputs and affinity codes an item or user row carries
        total += dataset.count_rows() * (4 * columns + ROW_OVERHEAD_BYTES + 24)
    return total
