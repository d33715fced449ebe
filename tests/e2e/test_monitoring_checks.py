"""The monitoring checks' failure paths, on the end-to-end state: stale raw data, stale
features, an old champion, a tampered online value, drifted features and shifted scores each
fail with a message naming what is wrong. The checks run in a side folder that links the
end-to-end data and copies what they would change, so the other e2e tests see it untouched."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pandas as pd
import pytest

from tests.e2e.conftest import DAYS

pytestmark = [pytest.mark.slow, pytest.mark.integration]
LAST = DAYS[5]


@pytest.fixture(scope="module")
def side(end_to_end, tmp_path_factory):
    cfg = end_to_end.config.model_copy(deep=True)
    source = end_to_end.config.home
    cfg.home = tmp_path_factory.mktemp("monitoring_side")
    for name in ("data", "mlflow", "exports"):
        (cfg.home / name).symlink_to(source / name)
    for name in ("feast", "runs"):  # the online store and scoring records get changed here
        shutil.copytree(source / name, cfg.home / name, symlinks=True)
    return cfg


def test_stale_raw_data_fails_naming_the_newest_partition(side) -> None:
    from rankct.errors import CheckFailed
    from rankct.monitoring.freshness import raw_freshness

    assert raw_freshness(side, LAST)["passed"]
    with pytest.raises(CheckFailed, match=rf"newest complete impressions partition is dt={LAST}"
                                          r" \(3 day\(s\) old; limit 1\)"):
        raw_freshness(side, LAST + timedelta(days=3))
    record = side.home / "monitoring" / f"dt={LAST + timedelta(days=3)}" / "raw_freshness.json"
    assert json.loads(record.read_text())["passed"] is False


def test_stale_features_and_an_old_champion_fail(side) -> None:
    from rankct.errors import CheckFailed
    from rankct.monitoring.freshness import champion_freshness, feature_freshness

    later = LAST + timedelta(days=4)
    with pytest.raises(CheckFailed, match="stale: offline item_features"):
        feature_freshness(side, later)
    aged = side.model_copy(deep=True)
    aged.monitoring.max_champion_age_days = 1
    assert champion_freshness(side, LAST)["passed"]
    with pytest.raises(CheckFailed, match=r"champion v\d was trained on data up to"):
        champion_freshness(aged, later)


def test_a_tampered_online_value_is_named(side) -> None:
    from rankct.errors import CheckFailed
    from rankct.features.build import FeaturePaths, as_of
    from rankct.monitoring.consistency import online_offline_skew
    from rankct.online.feast_repo import feature_store

    assert online_offline_skew(side, LAST)["passed"]
    offline = pd.read_parquet(FeaturePaths(side.data_root).table("item_features", LAST))
    row = offline.head(1).copy()
    row["price"] = 123456.0
    row["event_timestamp"] = pd.Timestamp(as_of(LAST))
    feature_store(side).write_to_online_store("item_features", row)
    side.monitoring.skew_sample_entities = len(offline)  # the tampered item is in the sample
    with pytest.raises(CheckFailed, match=rf"item_features:price item_id={row['item_id'].iloc[0]}"
                                          r": online=123456.0"):
        online_offline_skew(side, LAST)


def test_drifted_features_fail_with_the_report_linked(side) -> None:
    from rankct.errors import CheckFailed
    from rankct.monitoring.drift import feature_drift

    strict = side.model_copy(deep=True)
    strict.monitoring.max_feature_drift_share = 0.01
    with pytest.raises(CheckFailed, match="of columns drifted against dt=") as failure:
        feature_drift(strict, LAST)
    assert "/projects/" in failure.value.summary["report_url"]


def test_shifted_scores_fail_the_score_drift_check(side) -> None:
    from rankct.errors import CheckFailed
    from rankct.io import write_json_atomic
    from rankct.monitoring.drift import score_drift

    record = json.loads((side.home / "runs" / "scoring" / f"dt={LAST}.json").read_text())
    scores = pd.read_parquet(record["path"])
    earlier = LAST - timedelta(days=1)
    path = side.home / "shifted" / f"dt={earlier}"
    path.mkdir(parents=True)
    scores.assign(score=scores["score"] - 5 * scores["score"].std()).to_parquet(path / "p.parquet")
    write_json_atomic(side.home / "runs" / "scoring" / f"dt={earlier}.json",
                      {**record, "day": earlier.isoformat(), "path": str(path)})
    with pytest.raises(CheckFailed, match=r"moved 5\.\d+ reference standard deviations"):
        score_drift(side, LAST)
