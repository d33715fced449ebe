"""Online features for one ranking request: one user, up to 500 candidates, one Feast call,
a float matrix in the model's column order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rankct.errors import RankctError

if TYPE_CHECKING:
    from feast import FeatureStore

MAX_CANDIDATES = 500
# Strings are join keys or labels for people, not model inputs (their numeric codes are).
_NON_NUMERIC = {"item_category", "item_brand", "top_category"}


def model_columns(store: FeatureStore, service: str = "ranker_v1") -> list[str]:
    """The numeric features of ``service`` in a fixed order: the model's input columns."""
    columns = []
    for projection in store.get_feature_service(service).feature_view_projections:
        columns += [f.name for f in projection.features if f.name not in _NON_NUMERIC]
    return columns


def request_matrix(store: FeatureStore, user_id: int, candidates: Sequence[dict[str, Any]],
                   query: str | None = None, columns: list[str] | None = None,
                   service: str = "ranker_v1") -> tuple[list[str], np.ndarray]:
    """Features of ``candidates`` (dicts with item_id, category, brand) for ``user_id``.

    Returns the column names and a float32 matrix, one row per candidate in the given order,
    NaN where the online store has no value (as XGBoost treats missing values).
    """
    if not 0 < len(candidates) <= MAX_CANDIDATES:
        raise RankctError(f"a ranking request takes 1 to {MAX_CANDIDATES} candidates, "
                          f"got {len(candidates)}")
    columns = columns or model_columns(store, service)
    rows = [{"user_id": user_id, "item_id": c["item_id"], "category": c["category"],
             "brand": c["brand"], "query": query or ""} for c in candidates]
    values = store.get_online_features(features=store.get_feature_service(service),
                                       entity_rows=rows).to_dict()
    matrix = np.full((len(rows), len(columns)), np.nan, dtype=np.float32)
    for j, name in enumerate(columns):
        column = values[name]
        matrix[:, j] = [np.nan if v is None else v for v in column]
    return columns, matrix
