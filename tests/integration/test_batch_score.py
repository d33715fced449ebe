"""Batch scoring on the tiny marketplace with two planted sales: one just before the end of the
feature day, one after the features were built but just before the scoring time."""

from __future__ import annotations

import io
import shutil
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xgboost as xgb
from rankct.contract import TABLES, partition_path
from rankct.errors import RankctError
from rankct.export.onnx_model import save_onnx, to_onnx
from rankct.features.build import FEATURE_TABLES, as_of, build_range
from rankct.io import write_partition
from rankct.online.retrieval import NON_NUMERIC_FEATURES
from rankct.scoring.frame import (
    add_request_features,
    feature_matrix,
    packed_features,
    scoring_rows_in_pandas,
)
from rankct.scoring.job import score_day
from rankct.scoring.score import top_k

from tests.conftest import START
from tests.jobs import load_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAY = START + timedelta(days=2)
CUTOFF = as_of(DAY) + timedelta(hours=6)
# More than any user's candidates: the sold-item check then covers every scored pair.
ALL = 1000
TOP = 5
# Join keys, the timestamp and the string columns the model does not take.
KEYS = ("user_id", "item_id", "event_timestamp", *NON_NUMERIC_FEATURES)


def _plant_sale(root: Path, item_id: int, partition_day, sold_at) -> None:
    """Append a change-log row that sells ``item_id`` at ``sold_at`` to a raw items partition."""
    history = pd.concat(pd.read_parquet(partition_path(root, "items", START + timedelta(days=d)))
                        for d in range(4))
    row = history[history["item_id"] == item_id].sort_values("updated_at").iloc[[-1]].copy()
    row["sold_at"] = row["updated_at"] = pd.Timestamp(sold_at)
    path = partition_path(root, "items", partition_day)
    table = pa.concat_tables([pq.read_table(path), pa.Table.from_pandas(
        row, schema=TABLES["items"].schema, preserve_index=False)])
    write_partition(table, path)


def _most_clicked_on_sale(root: Path, n: int) -> list[int]:
    """The most clicked items up to DAY that no change log row up to DAY + 1 marks as sold."""
    events = pd.concat(pd.read_parquet(partition_path(root, "events", START + timedelta(days=d)))
                       for d in range(3))
    items = pd.concat(pd.read_parquet(partition_path(root, "items", START + timedelta(days=d)))
                      for d in range(4))
    sold = set(items.loc[items["sold_at"].notna(), "item_id"])
    clicks = events[events["event_type"] == "click"]["item_id"].value_counts()
    return [int(i) for i in clicks.index if i not in sold][:n]


@pytest.fixture(scope="module")
def market(tiny_market, spark, config, tmp_path_factory):
    """Raw data with the planted sales, features of DAY - 1 and DAY, a booster and its ONNX."""
    root = tmp_path_factory.mktemp("scoring") / "data"
    (root / "raw").mkdir(parents=True)
    for table in ("impressions", "events", "users", "sellers"):
        (root / "raw" / table).symlink_to(tiny_market / "raw" / table)
    shutil.copytree(tiny_market / "raw" / "items", root / "raw" / "items")
    sold_before_day_end, sold_before_cutoff = _most_clicked_on_sale(root, 2)
    _plant_sale(root, sold_before_day_end, DAY, as_of(DAY) - timedelta(minutes=1))
    _plant_sale(root, sold_before_cutoff, DAY + timedelta(days=1), CUTOFF - timedelta(minutes=1))
    build_range(spark, root, DAY - timedelta(days=1), DAY, config)
    booster = _train(root)
    onnx_path = root.parent / "model.onnx"
    save_onnx(to_onnx(booster, list(booster.feature_names)), onnx_path)
    model_path = root.parent / "booster.ubj"
    booster.save_model(str(model_path))
    return {"root": root, "booster": booster, "onnx": onnx_path, "model": model_path,
            "sold": [sold_before_day_end, sold_before_cutoff]}


def _train(root: Path) -> xgb.Booster:
    """A small ranker on the previous day's features; labels favour clicked items, so the
    planted (most clicked) items would rank first if they were ever candidates."""
    day = f"dt={DAY - timedelta(days=1)}"
    items = pd.read_parquet(root / "features" / "item_features" / day)
    users = pd.read_parquet(root / "features" / "user_features" / day)
    rng = np.random.default_rng(0)
    pairs = pd.DataFrame({"user_id": np.repeat(users["user_id"].to_numpy()[:80], 25),
                          "item_id": rng.choice(items["item_id"].to_numpy(), 80 * 25)})
    frame = add_request_features(pairs.merge(items, on="item_id").merge(
        users.drop(columns="event_timestamp"), on="user_id")).sort_values("user_id")
    names = [c for c in frame.columns if c not in KEYS]
    label = np.digitize(np.log1p(frame["clicks_7d"]) + rng.normal(scale=0.2, size=len(frame)),
                        [0.7, 1.5])
    dtrain = xgb.DMatrix(frame[names].astype("float64"), label=label, qid=frame["user_id"])
    return xgb.train({"objective": "rank:ndcg", "max_depth": 4, "eta": 0.3, "nthread": 2,
                      "seed": 0}, dtrain, num_boost_round=15)


@pytest.fixture(scope="module")
def runs(market, spark, tmp_path_factory):
    """Two runs of the same day into the same place: the library with the tables held in the
    workers, then the spark-submit entry point with the tables joined in Spark. Both keep every
    candidate, ranked."""
    out = tmp_path_factory.mktemp("recommendations")
    first = score_day(spark, market["root"], DAY, market["booster"], top=ALL, out_root=out,
                      cutoff=CUTOFF, onnx_path=market["onnx"])
    assert first.features_from == "lookup"
    first_bytes = {p.name: p.read_bytes() for p in first.path.iterdir()}
    printed = io.StringIO()
    with redirect_stdout(printed):
        code = load_job("batch_score").main([
            "--date", str(DAY), "--model", str(market["model"]), "--data-root",
            str(market["root"]), "--out", str(out), "--cutoff", CUTOFF.isoformat(),
            "--top-k", str(ALL), "--max-lookup-mb", "0"])
    assert code == 0
    assert printed.getvalue().rstrip().endswith("features from the join"), printed.getvalue()
    return first, first_bytes


def test_never_recommends_a_sold_item(market, runs) -> None:
    first, _ = runs
    recs = pd.read_parquet(first.path)
    assert not set(market["sold"]) & set(recs["item_id"])
    # The planted items are the most clicked: sold or not, the model puts them first.
    features = pd.read_parquet(market["root"] / "features" / "item_features" / f"dt={DAY}")
    late = market["sold"][1]
    assert late in set(features["item_id"]), "sold after the features: only the change log knows"
    assert late in set(features.nlargest(50, "clicks_7d")["item_id"])
    assert market["sold"][0] not in set(features["item_id"])


def test_ranked_by_score_for_every_active_user(market, runs) -> None:
    first, _ = runs
    recs = pd.read_parquet(first.path)
    assert first.recommendations == first.candidates == len(recs)
    assert first.users == recs["user_id"].nunique()
    for _, user in recs.groupby("user_id"):
        assert list(user["rank"]) == list(range(1, len(user) + 1))
        assert (np.diff(user["score"].to_numpy()) <= 0).all()
        assert user["item_id"].is_unique
    assert (recs["scored_at"] == pd.Timestamp(CUTOFF)).all()
    assert set(",".join(recs["sources"]).split(",")) == {"category", "brand", "popular", "fresh"}
    # Active users: an impression on one of the built days.
    seen = pd.concat(pd.read_parquet(partition_path(market["root"], "impressions", d))
                     for d in (DAY - timedelta(days=1), DAY))
    assert set(recs["user_id"]) == set(seen["user_id"])


def test_top_k_keeps_the_k_best_per_user(runs, spark) -> None:
    first, _ = runs
    ranked = pd.read_parquet(first.path)
    scored = spark.createDataFrame(ranked.drop(columns=["rank", "scored_at"]).sample(
        frac=1.0, random_state=0))
    best = top_k(scored, TOP).toPandas().sort_values(["user_id", "rank"], ignore_index=True)
    assert best["user_id"].value_counts().max() == TOP
    expected = ranked[ranked["rank"] <= TOP].reset_index(drop=True)
    pd.testing.assert_frame_equal(best, expected[list(best.columns)], check_dtype=False)
    with pytest.raises(RankctError, match="positive"):
        top_k(scored, 0)


def _features_of(root: Path, pairs: pd.DataFrame) -> pd.DataFrame:
    """``pairs`` joined in pandas with the day's tables, as ``scoring_rows`` joins them."""
    tables = {name: pd.read_parquet(root / "features" / name / f"dt={DAY}")
              for name in FEATURE_TABLES}
    return scoring_rows_in_pandas(pairs, tables)


def test_every_batch_score_is_the_boosters_own(market, runs) -> None:
    """The in-worker lookup (and, by the byte-identical re-run, the JVM's float32 packing) give,
    on every candidate, exactly the score of the booster on the pandas matrix (the path training
    and the parity check use)."""
    first, _ = runs
    recs = pd.read_parquet(first.path)
    rows = add_request_features(_features_of(market["root"], recs[["user_id", "item_id",
                                                                    "score"]]))
    booster = market["booster"]
    X = feature_matrix(rows, list(booster.feature_names))
    assert len(rows) == len(recs) and np.isnan(X).any(), "missing values must be covered"
    expected = booster.inplace_predict(X, predict_type="margin", missing=np.nan)
    np.testing.assert_array_equal(rows["score"].to_numpy(), expected.astype(np.float64))


def test_parity_sample_and_the_join_path_rerun_writes_identical_bytes(runs) -> None:
    """The lookup and the joins give the same scores: the re-run through the other path writes
    the same bytes."""
    first, first_bytes = runs
    assert first.parity is not None and first.parity.passed and first.parity.n_requests == 20
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == first_bytes


def test_bad_inputs_speak(market, spark, tmp_path) -> None:
    with pytest.raises(RankctError, match="item_features dt="):
        score_day(spark, market["root"], DAY + timedelta(days=1), market["booster"])
    with pytest.raises(RankctError, match="before the features"):
        score_day(spark, market["root"], DAY, market["booster"], cutoff=as_of(DAY) - timedelta(1))
    # A string column cast to float would score as all-missing without a word.
    rows = spark.createDataFrame(pd.DataFrame({"item_category": ["bags"], "price": [1.0]}))
    with pytest.raises(RankctError, match=r"\['item_category'\] are not numeric"):
        packed_features(rows, ["price", "item_category"])
