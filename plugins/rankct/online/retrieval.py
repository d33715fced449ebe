"""Online features for one ranking request: one user, up to 500 candidates, one Feast call,
a float matrix in the model's column order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rankct.errors import RankctError

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

MAX_CANDIDATES = 500
# Strings are join keys or labels for people, not model inputs (their numeric codes are).
NON_NUMERIC_FEATURES = {"item_category", "item_brand", "top_category", "item_size", "user_top_size"}


def model_columns(store: FeatureStore, service: str = "ranker_v1") -> list[str]:
    """The numeric features of ``service`` in a fixed order: the model's input columns."""
    return _numeric_columns(store.get_feature_service(service))


def _numeric_columns(service: FeatureService) -> list[str]:
    columns = []
    for projection in service.feature_view_projections:
        columns += [f.name for f in projection.features if f.name not in NON_NUMERIC_FEATURES]
    return columns


class RequestFeatures:
    """Serves feature matrices for ranking requests from one FeatureStore.

    The FeatureService and the column order are resolved once, not per request (a registry
    lookup costs more than the online read of a small request), and the response is read
    straight from Feast's protobuf instead of through ``to_dict``'s per-value type dispatch.
    """

    def __init__(self, store: FeatureStore, service: str = "ranker_v1",
                 columns: list[str] | None = None) -> None:
        self.store = store
        self.service = store.get_feature_service(service)
        self.columns = columns or _numeric_columns(self.service)

    def matrix(self, user_id: int, candidates: Sequence[dict[str, Any]],
               query: str | None = None) -> np.ndarray:
        """float32 [len(candidates), len(columns)], NaN where the store has no value."""
        if not 0 < len(candidates) <= MAX_CANDIDATES:
            raise RankctError(f"a ranking request takes 1 to {MAX_CANDIDATES} candidates, "
                              f"got {len(candidates)}")
        rows = [{"user_id": user_id, "item_id": c["item_id"], "category": c["category"],
                 "brand": c["brand"], "query": query or ""} for c in candidates]
        proto = self.store.get_online_features(features=self.service, entity_rows=rows).proto
        position = {name: i for i, name in enumerate(proto.metadata.feature_names.val)}
        matrix = np.full((len(rows), len(self.columns)), np.nan, dtype=np.float32)
        for j, name in enumerate(self.columns):
            if name not in position:
                raise RankctError(f"the online response lacks feature {name!r}",
                                  hint="`rankct features apply` the repository the model uses")
            matrix[:, j] = [_number(v) for v in proto.results[position[name]].values]
        return matrix


def _number(value: Any) -> float:
    kind = value.WhichOneof("val")
    return np.nan if kind is None or kind == "null_val" else getattr(value, kind)


def request_matrix(store: FeatureStore, user_id: int, candidates: Sequence[dict[str, Any]],
                   query: str | None = None, columns: list[str] | None = None,
                   service: str = "ranker_v1") -> tuple[list[str], np.ndarray]:
    """Features of ``candidates`` (dicts with item_id, category, brand) for ``user_id``.

    Returns the column names and a float32 matrix, one row per candidate in the given order,
    NaN where the online store has no value (as XGBoost treats missing values). For a stream of
    requests keep one :class:`RequestFeatures` instead.
    """
    features = RequestFeatures(store, service, columns)
    return features.columns, features.matrix(user_id, candidates, query)
