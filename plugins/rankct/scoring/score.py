"""Native booster scores on Spark partitions, the top K per user, and the ONNX parity sample."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from rankct.errors import RankctError
from rankct.scoring.frame import (
    REQUEST_TIME_INPUTS,
    add_request_features,
    arrow_feature_matrix,
    feature_matrix,
    packed_features,
)

if TYPE_CHECKING:
    import xgboost as xgb
    from pyspark.sql import DataFrame, SparkSession

    from rankct.export.parity import ParityReport
    from rankct.scoring.lookup import FeatureLookup

KEYS = ("user_id", "item_id", "sources")
OUTPUT_SCHEMA = "user_id long, item_id long, sources string, score double"
# Arrow batches of the scoring stage. The byte limit at Int.MaxValue turns off Spark's per-row
# batch-size check (it sums every Arrow vector's size after each row: ~10% of the JVM's time in
# the stage); the row limit bounds a batch instead. With the check off, 10k to 100k rows ran
# within noise (bench/scoring.py); 50k rows of ~45 floats (~10 MB) means fewer Python calls.
SCORING_CONF = {"spark.sql.execution.arrow.maxRecordsPerBatch": "50000",
                "spark.sql.execution.arrow.maxBytesPerBatch": str(2**31 - 1)}


class ScoringParityFailed(RankctError):
    """Batch scores, the booster and the ONNX export do not agree: nothing is published."""

    exit_code = 3


@contextmanager
def scoring_conf(spark: SparkSession) -> Iterator[None]:
    """Apply :data:`SCORING_CONF` to the session for the ``with`` block, then restore it.

    Spark reads these when a job is planned and its tasks start: wrap everything from the
    ``score_rows`` call (and any ``cache`` of it) to the last action on its result.
    """
    before = {key: spark.conf.get(key, None) for key in SCORING_CONF}
    for key, value in SCORING_CONF.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _score_batches(frame: DataFrame, booster: xgb.Booster,
                   rows_of: Callable[[pa.RecordBatch], tuple[np.ndarray, pa.RecordBatch]]
                   ) -> DataFrame:
    """``frame``'s Arrow batches scored by ``booster`` on the executors: ``rows_of(batch)`` gives
    the model matrix and the batch of the rows it holds, whose keys go back with the scores.

    The booster travels to the executors once, as raw UBJSON bytes in a broadcast; each task
    loads it once and scores single-threaded (a task already owns one core) with
    ``inplace_predict``, the fast native path. No pandas frame is built per batch, and the keys
    go back to the JVM as the same Arrow arrays (``mapInArrow``).
    """
    raw = frame.sparkSession.sparkContext.broadcast(bytes(booster.save_raw("ubj")))

    def predict(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import xgboost

        model = xgboost.Booster(params={"nthread": 1})
        model.load_model(bytearray(raw.value))
        for batch in batches:
            if batch.num_rows == 0:
                continue
            matrix, batch = rows_of(batch)
            if batch.num_rows == 0:  # no pair of the batch had item features
                continue
            scores = model.inplace_predict(matrix, predict_type="margin", missing=np.nan)
            yield pa.RecordBatch.from_arrays(
                [*(batch.column(key) for key in KEYS),
                 pa.array(np.asarray(scores, dtype=np.float64))], names=[*KEYS, "score"])

    return frame.mapInArrow(predict, OUTPUT_SCHEMA)


def score_rows(rows: DataFrame, booster: xgb.Booster, feature_names: list[str]) -> DataFrame:
    """(``user_id``, ``item_id``, ``sources``, ``score``): the booster's raw margin per row of
    ``rows``, which hold every table feature (``frame.scoring_rows``).

    The JVM packs each row's features into one float32 array; the request-time features are
    computed per Arrow batch. Run the actions on the result under :func:`scoring_conf`.
    """
    names = list(feature_names)
    rows = rows.select(*KEYS, *REQUEST_TIME_INPUTS, packed_features(rows, names))

    def rows_of(batch: pa.RecordBatch) -> tuple[np.ndarray, pa.RecordBatch]:
        return arrow_feature_matrix(batch, names), batch

    return _score_batches(rows, booster, rows_of)


def score_pairs(pairs: DataFrame, lookup: FeatureLookup, booster: xgb.Booster) -> DataFrame:
    """(``user_id``, ``item_id``, ``sources``, ``score``) for candidate ``pairs``, their features
    gathered from ``lookup`` in the Python workers: the same scores as :func:`score_rows` on
    ``scoring_rows(pairs, ...)``, with only the keys crossing from the JVM.

    ``lookup`` travels to the executors once, in a broadcast that each Python worker loads once
    and keeps for its later tasks. Run the actions on the result under :func:`scoring_conf`.
    """
    tables = pairs.sparkSession.sparkContext.broadcast(lookup)

    def rows_of(batch: pa.RecordBatch) -> tuple[np.ndarray, pa.RecordBatch]:
        matrix, known = tables.value.matrix(
            batch.column("user_id").to_numpy(zero_copy_only=False),
            batch.column("item_id").to_numpy(zero_copy_only=False))
        return matrix, batch if known.all() else batch.filter(pa.array(known))

    return _score_batches(pairs.select(*KEYS), booster, rows_of)


def top_k(scored: DataFrame, k: int) -> DataFrame:
    """The ``k`` best items per user with their ``rank`` (1 = best); ties go to the lower item_id."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if k <= 0:
        raise RankctError(f"top-k must be positive, got {k}")
    best = Window.partitionBy("user_id").orderBy(F.col("score").desc(), F.col("item_id"))
    return (scored.withColumn("rank", F.row_number().over(best)).where(F.col("rank") <= k)
            .select("user_id", "rank", "item_id", "score", "sources"))


def parity_sample(rows: DataFrame, scored: DataFrame, booster: xgb.Booster,
                  feature_names: list[str], onnx_path: Path | str, n_users: int = 20,
                  atol: float = 1e-4) -> ParityReport:
    """Check a sample of users' candidates three ways: Spark's scores, the booster here, ONNX.

    ``rows`` hold the sample's features as the joins give them (``frame.scoring_rows``), so
    scores that came from the in-worker lookup are checked against the join path too.
    The sample is the ``n_users`` lowest user ids (fixed, so a re-run checks the same rows);
    each user's candidates form one request for the per-request order check.
    """
    import xgboost as xgb
    from pyspark.sql import functions as F

    from rankct.export.parity import check_parity

    users = [r.user_id for r in rows.select("user_id").distinct().orderBy("user_id")
             .limit(n_users).collect()]
    picked = (rows.where(F.col("user_id").isin(users)).toPandas()
              .sort_values(["user_id", "item_id"], ignore_index=True))
    X = feature_matrix(add_request_features(picked), feature_names)
    report = check_parity(booster, onnx_path, X, picked["user_id"].to_numpy(), feature_names,
                          atol=atol)
    spark_scores = (scored.where(F.col("user_id").isin(users)).toPandas()
                    .sort_values(["user_id", "item_id"], ignore_index=True)["score"].to_numpy())
    native = booster.predict(xgb.DMatrix(X, feature_names=list(feature_names), missing=np.nan),
                             output_margin=True)
    if len(spark_scores) != len(native) or np.max(np.abs(spark_scores - native)) > atol:
        raise ScoringParityFailed("Spark's batch scores differ from the booster's own on the parity "
                          "sample", hint="check that executors run the same xgboost version")
    if not report.passed:
        raise ScoringParityFailed("batch scores and the ONNX export disagree: " + "; ".join(report.reasons),
                          hint="re-export the ONNX model from this booster")
    return report
