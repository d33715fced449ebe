"""Native booster scores on Spark partitions, the top K per user, and the ONNX parity sample."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rankct.errors import RankctError
from rankct.scoring.frame import (
    REQUEST_TIME_FEATURES,
    REQUEST_TIME_INPUTS,
    add_request_features,
    feature_matrix,
)

if TYPE_CHECKING:
    import xgboost as xgb
    from pyspark.sql import DataFrame

    from rankct.export.parity import ParityReport

KEYS = ("user_id", "item_id", "sources")
OUTPUT_SCHEMA = "user_id long, item_id long, sources string, score double"


class ScoringParityFailed(RankctError):
    """Batch scores, the booster and the ONNX export do not agree: nothing is published."""

    exit_code = 3


def score_rows(rows: DataFrame, booster: xgb.Booster, feature_names: list[str]) -> DataFrame:
    """(``user_id``, ``item_id``, ``sources``, ``score``): the booster's raw margin per row.

    The booster travels to the executors once, as raw UBJSON bytes in a broadcast; each task
    loads it once and scores its Arrow batches single-threaded (a task already owns one core)
    with ``inplace_predict``, the fast native path.
    """
    spark = rows.sparkSession
    raw = spark.sparkContext.broadcast(bytes(booster.save_raw("ubj")))
    names = list(feature_names)
    # Only what the model and the request-time features read crosses into Python (via Arrow).
    needed = [*KEYS, *REQUEST_TIME_INPUTS, *(n for n in names if n not in REQUEST_TIME_FEATURES)]
    rows = rows.select(*dict.fromkeys(needed))

    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import xgboost

        model = xgboost.Booster(params={"nthread": 1})
        model.load_model(bytearray(raw.value))
        for batch in batches:
            X = feature_matrix(add_request_features(batch), names)
            scores = model.inplace_predict(X, predict_type="margin", missing=np.nan)
            out = batch[list(KEYS)].copy()
            out["score"] = np.asarray(scores, dtype=np.float64)
            yield out

    return rows.mapInPandas(predict, OUTPUT_SCHEMA)


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
