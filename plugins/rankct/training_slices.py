"""A day's rows of the training set, kept so that the next days' training sets reuse them.

A training window of seven days moves by one day a day, yet joining it point-in-time costs
the same every day (the window's impressions labelled and joined again). The joined
rows of an impression day depend only on that day's impressions, the events that can label them
(the attribution window reaches into the next day), the feature partitions the join reads and
the feature definitions; once those are the same, so are the rows. Each day's rows are kept as a
*slice* under ``<home>/training_slices/<service>/dt=D`` with a fingerprint of those inputs, and
a training set reads the slices whose fingerprint still matches. The labels have a fingerprint
of their own (the events that can label the day): in the daily run the newest day is joined and
the day before it, whose late events have just arrived, only gets its grades again, the features
it was joined with being the same.

The frame read back is the one a single join of the whole window gives: the same rows, the same
columns and dtypes, sampled by the same hash of the request id (:func:`training_set` compares
both in ``tests/integration/test_training_slices.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rankct.config import RankctConfig
from rankct.contract import SUCCESS_MARKER, partition_path
from rankct.io import atomic_dir
from rankct.online.feast_repo import FEATURE_TTL_DAYS, definitions_fingerprint
from rankct.training_set import (
    SAMPLE_BUCKETS,
    capped_share,
    in_request_order,
    labelled_requests,
    sample_bucket,
    window_days,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

# Bumped when what a slice holds changes, so that slices written by an older rankct are redone.
SLICE_FORMAT = "training-slice-2"
SAMPLE_BUCKET = "_sample_bucket"
_ROWS = "part-0.parquet"
_MANIFEST = "slice.json"
# Features of day D are stamped D+1 00:00, and the join reads rows up to the views' TTL before
# an impression: the partitions of the TTL's days before it, and one more for an impression at
# midnight sharp.
_FEATURE_DAYS_BACK = FEATURE_TTL_DAYS + 1


def event_days(day: date, days: Sequence[date], window_minutes: int) -> list[date]:
    """The days of ``days`` whose events can label ``day``'s impressions: the day itself and
    those the attribution window reaches into (an impression at 23:30 is labelled by an event
    at 00:30)."""
    reach = math.ceil(window_minutes / (24 * 60))
    return [d for d in days if day <= d <= day + timedelta(days=reach)]


def _listing(path: Path) -> list[tuple[str, int, int]]:
    """What identifies a partition's contents without reading them: its files' names, sizes and
    modification times (a partition is replaced as a whole, with new files)."""
    if not path.is_dir():
        return []
    return sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in path.iterdir()
                  if f.is_file())


def fingerprint(config: RankctConfig, data_root: Path, day: date, service: str) -> str:
    """The digest of everything ``day``'s joined rows depend on, their grades aside: the
    impressions, the items, the feature partitions the join reads and the definitions."""
    digest = _digest("service", service, "definitions", definitions_fingerprint(config))
    digest.update(_part("impressions", _listing(partition_path(data_root, "impressions", day))))
    # Category and brand never change for a listing, so only the item history up to the day
    # can name those of the day's impressions.
    items = sorted(p for p in (data_root / "items").glob("dt=*")
                   if p.name.removeprefix("dt=") <= day.isoformat())
    digest.update(_part("items", [(p.name, _listing(p)) for p in items]))
    features = data_root / "features"
    tables = sorted(p for p in features.iterdir() if p.is_dir() and p.name != "daily") \
        if features.is_dir() else []
    for table in tables:
        for back in range(1, _FEATURE_DAYS_BACK + 1):
            d = day - timedelta(days=back)
            digest.update(_part("features", table.name, d,
                                _listing(table / f"dt={d.isoformat()}")))
    return digest.hexdigest()


def label_fingerprint(config: RankctConfig, data_root: Path, labelled_by: Sequence[date]) -> str:
    """The digest of what grades a day's impressions: the label settings and the events of
    ``labelled_by`` (the days its attribution window reaches)."""
    digest = _digest("labels", config.labels.model_dump())
    for d in labelled_by:
        digest.update(_part("events", d, _listing(partition_path(data_root, "events", d))))
    return digest.hexdigest()


def _digest(*parts: object) -> hashlib._Hash:
    digest = hashlib.sha256(SLICE_FORMAT.encode())
    digest.update(_part(*parts))
    return digest


def _part(*parts: object) -> bytes:
    return json.dumps(parts, default=str).encode() + b"\n"


def slice_path(root: Path, service: str, day: date) -> Path:
    return root / service / f"dt={day.isoformat()}"


def _manifest(path: Path) -> dict:
    """A complete slice's manifest; empty when the slice is missing or was cut short."""
    manifest = path / _MANIFEST
    if not (path / SUCCESS_MARKER).exists() or not manifest.exists():
        return {}
    return json.loads(manifest.read_text())


def _write_slice(path: Path, rows: pa.Table, digests: tuple[str, str],
                 labelled_by: Sequence[date]) -> None:
    import pyarrow.parquet as pq

    with atomic_dir(path) as tmp:
        pq.write_table(rows, tmp / _ROWS, compression="zstd")
        (tmp / _MANIFEST).write_text(json.dumps({
            "fingerprint": digests[0], "labels": digests[1], "rows": rows.num_rows,
            "events_of": [d.isoformat() for d in labelled_by]}, indent=2) + "\n")
        (tmp / SUCCESS_MARKER).touch()


def regraded(rows: pa.Table, grades: pa.Table) -> pa.Table | None:
    """``rows`` (a slice) with the ``grade`` of each impression taken from ``grades``
    (request_id, item_id, grade), in the same order and type; None when ``grades`` does not
    name every impression of ``rows`` exactly once (the slice is then joined again)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = ["request_id", "item_id"]
    if grades.num_rows != rows.num_rows:
        return None
    numbered = rows.select(keys).append_column("_row", pa.array(np.arange(rows.num_rows)))
    # Spark hands strings over as large_string: the keys take the slice's types to match.
    grades = grades.select([*keys, "grade"]).cast(
        pa.schema([rows.schema.field(k) for k in keys]).append(grades.schema.field("grade")))
    matched = numbered.join(grades, keys, join_type="inner").sort_by("_row")
    if matched.num_rows != rows.num_rows or pc.any(pc.not_equal(
            matched.column("_row"), numbered.column("_row"))).as_py():
        return None
    field = rows.schema.field("grade")
    return rows.set_column(rows.schema.get_field_index("grade"), field,
                           matched.column("grade").cast(field.type))


def joined_slices(spark: SparkSession, data_root: Path, days: Sequence[date],
                  config: RankctConfig, service: str, root: Path) -> list[Path]:
    """The slice files of ``days`` (the training window's usable days), joining
    only the days whose joined rows are missing or out of date, and grading again those whose
    rows are current but whose labelling events changed."""
    window = config.labels.attribution_window_minutes
    wanted = {d: event_days(d, days, window) for d in days}
    digests = {d: (fingerprint(config, data_root, d, service),
                   label_fingerprint(config, data_root, wanted[d])) for d in days}
    kept = {d: _manifest(slice_path(root, service, d)) for d in days}
    stale = [d for d in days if kept[d].get("fingerprint") != digests[d][0]]
    regrade = [d for d in days if d not in stale and kept[d].get("labels") != digests[d][1]]
    if stale or regrade:
        log.info("training slices of %s: %s joined, %s graded again, %d reused", service,
                 ", ".join(map(str, stale)) or "none", ", ".join(map(str, regrade)) or "none",
                 len(days) - len(stale) - len(regrade))
        unmatched = _join_and_grade(spark, data_root, config, service, root, stale, regrade,
                                    wanted, digests)
        if unmatched:  # grades that could not be matched to their rows: joined again instead
            _join_and_grade(spark, data_root, config, service, root, unmatched, [], wanted,
                            digests)
    return [slice_path(root, service, d) / _ROWS for d in days]


def _join_and_grade(spark: SparkSession, data_root: Path, config: RankctConfig, service: str,
                    root: Path, stale: Sequence[date], regrade: Sequence[date],
                    wanted: dict[date, list[date]],
                    digests: dict[date, tuple[str, str]]) -> list[date]:
    """Join the ``stale`` days' slices and grade the ``regrade`` days' again, from one
    labelling; returns the days of ``regrade`` whose grades did not match their rows."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    from rankct.online.feast_repo import feature_store
    from rankct.online.historical import historical_features

    # Events of a day outside an impression's attribution window never label it, so the days
    # share one labelling over the union of the events they need.
    labelling = sorted({e for d in [*stale, *regrade] for e in wanted[d]})
    labelled = (labelled_requests(spark, data_root, [*stale, *regrade], config,
                                  events_of=labelling)
                .withColumn(SAMPLE_BUCKET, sample_bucket()).persist())
    served_on = F.to_date("event_timestamp")
    try:
        grades = (labelled.where(served_on.isin(list(regrade)))
                  .select("request_id", "item_id", "grade", served_on.alias("_day")).toArrow()
                  if regrade else None)
        store = feature_store(config)
        # A day at a time: the joined rows are built in this process, and several days of a
        # medium marketplace come to 3M impressions x 70 columns. Each day's slice is kept as
        # soon as it is joined, so that a retry starts where this one stopped.
        for d in stale:
            rows = historical_features(store, labelled.where(served_on == F.lit(d)),
                                       service).to_arrow()
            _write_slice(slice_path(root, service, d), rows, digests[d], wanted[d])
    finally:
        labelled.unpersist()
    unmatched = []
    for d in regrade:
        path = slice_path(root, service, d)
        graded = regraded(pq.read_table(path / _ROWS),
                          grades.filter(pc.equal(grades.column("_day"), d)))
        if graded is None:
            unmatched.append(d)
        else:
            _write_slice(path, graded, digests[d], wanted[d])
    return unmatched


def read_slices(files: Sequence[Path], share: float, max_requests: int | None) -> pa.Table:
    """The slices' rows as one table, sampled as :func:`rankct.training_set.sample_requests`
    samples the window's requests (the share lowered to about ``max_requests``)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if max_requests is not None:
        # The request ids alone first: the share must be known before the rows are read, so
        # that a sampled medium window never sits whole in memory.
        ids = pa.chunked_array([pq.read_table(f, columns=["request_id"]).column("request_id")
                                .combine_chunks() for f in files])
        requests = pc.count_distinct(ids).as_py()
        capped = capped_share(requests, share, max_requests)
        if capped < share:
            log.info("training set: %s requests, keeping a hashed %.1f%% of them",
                     f"{requests:,}", 100 * capped)
        share = capped
    keep = None if share >= 1 else [(SAMPLE_BUCKET, "<", int(share * SAMPLE_BUCKETS))]
    tables = [pq.read_table(f, filters=keep) for f in files]
    joined = pa.concat_tables(tables, promote_options="permissive")
    return joined.drop_columns([SAMPLE_BUCKET])


def sliced_training_set(spark: SparkSession, data_root: Path | str, start: date, end: date,
                        config: RankctConfig, root: Path, service: str = "ranker_v1",
                        skip: Sequence[date] = (), max_requests: int | None = None,
                        share: float = 1.0) -> pd.DataFrame:
    """:func:`rankct.training_set.training_set` of ``start``..``end`` from the slices under
    ``root``: the same frame, joining only the days whose slice is missing or out of date."""
    days = window_days(start, end, skip)
    files = joined_slices(spark, Path(data_root), days, config, service, root)
    return in_request_order(read_slices(files, share, max_requests).to_pandas())
