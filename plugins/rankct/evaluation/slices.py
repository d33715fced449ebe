"""Ranking metrics per slice of the traffic (surface, query kind, new items, category...).

One definition covers request-level and row-level attributes: the metrics of slice value ``v``
are computed on every request restricted to its rows whose attribute is ``v``, that sub-list
re-ranked by score. For an attribute constant within a request ("surface") this is exactly the
requests with that value, whole. For a row-level attribute ("item is new") it measures how well
the model orders those items among themselves, not where they land in the full list.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from rankct.errors import RankctError
from rankct.evaluation.metrics import evaluate


def slice_metrics(frame: pd.DataFrame, slices: Mapping[str, pd.Series | str], k: int = 10,
                  score: str = "score", label: str = "grade",
                  request: str = "request_id") -> pd.DataFrame:
    """NDCG@k, MAP, MRR and scored requests for every value of every named slicing.

    A slicing is a column name of ``frame`` or a Series with the frame's index. Rows whose value
    is missing belong to no slice; a slice whose requests have no relevant item has NaN metrics.
    """
    rows = []
    for name, slicing in slices.items():
        values = _slice_values(frame, name, slicing)
        for value in sorted(values.dropna().unique().tolist()):
            metrics = evaluate(frame[(values == value).to_numpy()], score, label, request, (k,))
            rows.append({"slice": name, "value": value, f"ndcg@{k}": metrics.ndcg[k],
                         "map": metrics.map, "mrr": metrics.mrr,
                         "n_requests": metrics.n_requests})
    columns = ["slice", "value", f"ndcg@{k}", "map", "mrr", "n_requests"]
    return pd.DataFrame(rows, columns=columns)


def _slice_values(frame: pd.DataFrame, name: str, slicing: pd.Series | str) -> pd.Series:
    if isinstance(slicing, str):
        if slicing not in frame.columns:
            raise RankctError(f"slice {name!r}: no column {slicing!r} in the evaluation frame")
        return frame[slicing]
    if not slicing.index.equals(frame.index):
        raise RankctError(f"slice {name!r}: the Series index differs from the frame's",
                          hint="build it from the frame's columns, or pass a column name")
    return slicing

