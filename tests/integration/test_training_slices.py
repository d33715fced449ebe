"""A training set read from kept daily slices is the frame a join of the whole window gives,
window after window, sampled or not; a slice whose inputs change is joined
again, and one whose inputs did not is read back as it is."""

from __future__ import annotations

import os
from datetime import timedelta

import pandas as pd
import pytest

from tests.conftest import START

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAYS = [START + timedelta(days=i) for i in range(5)]


@pytest.fixture(scope="module")
def built(tiny_features):
    return tiny_features


def _both(cfg, spark, start, end, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    from rankct.training_set import training_set
    from rankct.training_slices import sliced_training_set

    whole = training_set(spark, cfg.data_root, start, end, cfg, **kwargs)
    sliced = sliced_training_set(spark, cfg.data_root, start, end, cfg,
                                 cfg.home / "training_slices", **kwargs)
    return whole, sliced


def _same(whole: pd.DataFrame, sliced: pd.DataFrame) -> None:
    assert len(whole) > 0
    assert list(sliced.columns) == list(whole.columns)
    assert sliced.dtypes.to_dict() == whole.dtypes.to_dict()
    pd.testing.assert_frame_equal(sliced, whole)


def _slice_files(cfg) -> dict[str, int]:
    root = cfg.home / "training_slices" / "ranker_v1"
    return {p.parent.name: p.stat().st_mtime_ns for p in root.glob("dt=*/part-0.parquet")}


def test_a_moving_window_reads_back_what_one_join_gives(built, spark, caplog) -> None:
    whole, sliced = _both(built, spark, DAYS[1], DAYS[3])
    _same(whole, sliced)
    first = _slice_files(built)
    assert set(first) == {f"dt={d}" for d in DAYS[1:4]}

    # The next day's window: DAYS[1..2] are read back untouched; DAYS[3] is graded again now
    # that the next day's events (which can label its late impressions) are in the window, its
    # joined features kept; DAYS[4] is joined.
    with caplog.at_level("INFO", logger="rankct.training_slices"):
        whole, sliced = _both(built, spark, DAYS[1], DAYS[4])
    _same(whole, sliced)
    assert f"{DAYS[4]} joined, {DAYS[3]} graded again, 2 reused" in caplog.text
    second = _slice_files(built)
    assert {k: second[k] for k in (f"dt={DAYS[1]}", f"dt={DAYS[2]}")} == \
        {k: first[k] for k in (f"dt={DAYS[1]}", f"dt={DAYS[2]}")}
    assert second[f"dt={DAYS[3]}"] != first[f"dt={DAYS[3]}"]

    # Sampled down to a cap, from the slices alone: whole requests, those whose hash falls under
    # the share, as the window's one join samples them.
    from pyspark.sql import functions as F
    from rankct.training_set import SAMPLE_BUCKETS, capped_share, sample_bucket
    from rankct.training_slices import sliced_training_set

    capped = sliced_training_set(spark, built.data_root, DAYS[1], DAYS[4], built,
                                 built.home / "training_slices", max_requests=500)
    share = capped_share(whole["request_id"].nunique(), 1.0, 500)
    ids = spark.createDataFrame(whole[["request_id"]].drop_duplicates())
    kept = {r.request_id for r in ids.where(sample_bucket() < int(share * SAMPLE_BUCKETS))
            .select(F.col("request_id")).collect()}
    assert 0 < len(kept) < 0.6 * whole["request_id"].nunique()
    _same(whole[whole["request_id"].isin(kept)].reset_index(drop=True), capped)
    assert _slice_files(built) == second


def test_a_slice_whose_features_changed_is_joined_again(built, spark) -> None:
    from rankct.training_slices import sliced_training_set

    def sliced():
        return sliced_training_set(spark, built.data_root, DAYS[1], DAYS[4], built,
                                   built.home / "training_slices")

    whole = sliced()
    before = _slice_files(built)
    # A feature partition rewritten (a backfill) gets new files: the days whose join reads it
    # (the four after it) are joined again, the others are not.
    part = next((built.data_root / "features" / "user_features" / f"dt={DAYS[1]}")
                .glob("*.parquet"))
    os.utime(part, ns=(part.stat().st_atime_ns, part.stat().st_mtime_ns + 1_000_000_000))
    _same(whole, sliced())
    after = _slice_files(built)
    assert after[f"dt={DAYS[1]}"] == before[f"dt={DAYS[1]}"]
    assert all(after[f"dt={d}"] != before[f"dt={d}"] for d in DAYS[2:])
