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



NEW_ITEM_DAYS = 7.0
NEW_USER_DAYS = 30.0
HEAD_QUERY_SHARE = 0.5


def standard_slices(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The slicings every evaluation reports, from the training-set columns that are present.

    surface and category as logged; new items (listed under 7 days before) and new users (signed
    up under 30 days before) from the features; head queries are the most frequent queries that
    together make half of the search requests, the rest tail (no query: no query slice).
    """
    slices: dict[str, pd.Series] = {}
    for column in ("surface", "category"):
        if column in frame.columns:
            slices[column] = frame[column]
    if "age_days" in frame.columns:
        slices["new_item"] = _flag(frame["age_days"] < NEW_ITEM_DAYS, frame["age_days"])
    if "days_since_signup" in frame.columns:
        slices["new_user"] = _flag(frame["days_since_signup"] < NEW_USER_DAYS,
                                   frame["days_since_signup"])
    if "query" in frame.columns:
        slices["query_kind"] = _query_kind(frame)
    return slices


def _flag(condition: pd.Series, source: pd.Series) -> pd.Series:
    return condition.map({True: "yes", False: "no"}).where(source.notna())


def _query_kind(frame: pd.DataFrame) -> pd.Series:
    queries = frame["query"].where(frame["query"].fillna("") != "")
    per_request = frame.assign(_q=queries).drop_duplicates("request_id")["_q"].dropna()
    counts = per_request.value_counts()
    head = set(counts.index[(counts.cumsum() - counts) < HEAD_QUERY_SHARE * counts.sum()])
    return queries.map(lambda q: "head" if q in head else "tail").where(queries.notna())
