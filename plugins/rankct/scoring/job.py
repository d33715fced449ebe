"""One batch-scoring run: the day's feature tables in, a dated top-K partition out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rankct.contract import SUCCESS_MARKER
from rankct.errors import RankctError
from rankct.features.build import FEATURE_TABLES, FeaturePaths, as_of
from rankct.io import publish_dataframe
from rankct.scoring.candidates import (
    CandidateSpec,
    active_users,
    candidate_pairs,
    on_sale,
    sold_items,
)
from rankct.scoring.frame import check_columns, scoring_rows
from rankct.scoring.lookup import FeatureLookup, lookup_bytes
from rankct.scoring.score import parity_sample, score_pairs, score_rows, scoring_conf, top_k
from rankct.spark import union_all

if TYPE_CHECKING:
    import xgboost as xgb
    from pyspark.sql import DataFrame, SparkSession

    from rankct.export.parity import ParityReport

# Above this the tables are joined onto the pairs in Spark instead of held in every Python
# worker (one copy per core, and one in the driver while it is built). A medium day's tables
# take 144 MB (estimated 188 MB: the estimate errs high); a large day's about ten times that.
MAX_LOOKUP_MB = 512
# The users of the parity sample (the lowest ids): each one's candidates are one request.
PARITY_USERS = 20
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoringResult:
    """Where the recommendations went and what they cover."""

    path: Path
    day: date
    cutoff: datetime
    users: int
    recommendations: int
    candidates: int
    parity: ParityReport | None
    features_from: str  # "lookup" (tables held in the workers) or "join" (joined in Spark)


def recommendations_path(out_root: Path | str, day: date) -> Path:
    return Path(out_root) / f"dt={day.isoformat()}"


def _table(spark: SparkSession, paths: FeaturePaths, name: str, day: date) -> DataFrame:
    path = paths.table(name, day)
    if not (path / SUCCESS_MARKER).exists():
        raise RankctError(f"feature table {name} dt={day} is missing ({path})",
                          hint=f"run `rankct features build --date {day}` first")
    return spark.read.parquet(str(path))


def score_day(spark: SparkSession, data_root: Path | str, day: date, booster: xgb.Booster, *,
              top: int = 50, out_root: Path | str | None = None, cutoff: datetime | None = None,
              onnx_path: Path | str | None = None,
              spec: CandidateSpec | None = None,
              max_lookup_mb: float = MAX_LOOKUP_MB) -> ScoringResult:
    """Top-``top`` items per active user, scored with ``booster`` on the features of ``day``.

    ``cutoff`` is the scoring time (default: the end of ``day``, when its features become
    valid); no item sold before it is recommended, even one sold after the features were built.
    The partition ``<out_root>/dt=<day>`` (default ``<data_root>/recommendations``) is replaced
    atomically and a re-run writes the same rows. With ``onnx_path``, ONNX parity with the batch
    scores is asserted on a sample first.

    The features come from the day's tables held in each Python worker
    (:class:`~rankct.scoring.lookup.FeatureLookup`) when they fit in ``max_lookup_mb``, else
    from joins in Spark; both give the same scores. The parity sample's rows always come from
    the joins, so every run also checks the lookup against them.
    """
    from pyspark.sql import functions as F

    from rankct.quality.content import load_history

    data_root, paths = Path(data_root), FeaturePaths(Path(data_root))
    spec = spec or CandidateSpec()
    cutoff = cutoff or as_of(day)
    if cutoff < as_of(day):
        raise RankctError(f"cutoff {cutoff} is before the features of {day} are valid "
                          f"({as_of(day)})", hint="score with the features of an earlier day")
    names = list(booster.feature_names or [])
    if not names:
        raise RankctError("the booster has no feature names",
                          hint="train with named columns: batch scoring selects them by name")
    tables = {name: _table(spark, paths, name, day) for name in FEATURE_TABLES}
    check_columns([c for t in tables.values() for c in t.columns], names)

    days = [day - timedelta(days=back) for back in range(spec.active_days)]
    daily = [spark.read.parquet(str(paths.daily("user", d))) for d in days
             if (paths.daily("user", d) / SUCCESS_MARKER).exists()]
    if not daily:
        raise RankctError(f"no daily user counts in the {spec.active_days} days up to {day}",
                          hint=f"run `rankct features build --date {day}` first")
    users = active_users(union_all(daily))
    items_log = load_history(spark, data_root, "items", cutoff.date(),
                             ["item_id", "sold_at", "updated_at"])
    items = on_sale(tables["item_features"], sold_items(items_log, cutoff))
    pairs = candidate_pairs(items, users, tables["user_category_affinity"],
                            tables["user_brand_affinity"], spec)
    table_paths = {name: paths.table(name, day) for name in FEATURE_TABLES}
    size = lookup_bytes(names, table_paths)
    in_workers = size <= max_lookup_mb * 2**20
    log.info("feature tables of %s: %.0f MB in memory, %s", day, size / 2**20,
             "held in each Python worker" if in_workers
             else f"over {max_lookup_mb:g} MB: joined in Spark")

    def joined(candidates: DataFrame) -> DataFrame:
        return scoring_rows(candidates, items, tables["user_features"],
                            tables["user_category_affinity"], tables["user_brand_affinity"])

    # Cached: the scoring stage and the parity sample both read the pairs.
    pairs = pairs.cache()
    scored = None
    try:
        with scoring_conf(spark):
            scored = (score_pairs(pairs, FeatureLookup.read(names, table_paths), booster)
                      if in_workers else score_rows(joined(pairs), booster, names)).cache()
            parity = None
            if onnx_path is not None:
                sample = [r.user_id for r in pairs.select("user_id").distinct()
                          .orderBy("user_id").limit(PARITY_USERS).collect()]
                parity = parity_sample(joined(pairs.where(F.col("user_id").isin(sample))), scored,
                                       booster, names, onnx_path, n_users=PARITY_USERS)
            best = top_k(scored, top)
            target = recommendations_path(out_root or data_root / "recommendations", day)
            publish_dataframe(best.withColumn("scored_at", F.lit(cutoff)), target,
                              ["user_id", "rank"])
            counts = scored.agg(F.count(F.lit(1)).alias("n"),
                                F.countDistinct("user_id").alias("users")).first()
            written = spark.read.parquet(str(target)).count()
    finally:
        if scored is not None:
            scored.unpersist()
        pairs.unpersist()
    return ScoringResult(target, day, cutoff, counts["users"], written, counts["n"], parity,
                         "lookup" if in_workers else "join")

