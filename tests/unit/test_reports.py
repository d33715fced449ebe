"""Evidently reports: ranking quality side by side, feature drift, training summary."""

from __future__ import annotations

import json

import pytest
from evidently.core.report import Snapshot
from rankct.errors import RankctError
from rankct.evaluation.metrics import evaluate
from rankct.evaluation.slices import slice_metrics
from rankct.reports.drift import feature_drift_report, training_summary_report
from rankct.reports.ranking import ranking_report

from tests.unit.test_gate import FEATURES, scored, synthetic_requests, train_ranker


@pytest.fixture(scope="module")
def frame():
    train = synthetic_requests(200, seed=1)
    return scored(synthetic_requests(120, seed=2), challenger=train_ranker(train),
                  champion=train_ranker(train, shuffle_labels=True))


def test_ranking_report_shows_both_models_with_rankct_values(frame, tmp_path):
    models = {"challenger v2": "challenger", "champion v1": "champion"}
    slices = slice_metrics(frame, {"surface": "surface"}, score="challenger")
    paths, summary = ranking_report(frame, tmp_path, models=models,
                                    facts={"challenger": "version 2", "champion": "version 1"},
                                    slice_tables={"Challenger per surface": slices})
    page = paths.html.read_text()
    assert "<h1>Ranking quality: challenger v2 vs champion v1</h1>" in page
    assert "Challenger per surface" in page and "n_excluded_no_relevant" in page
    document = json.loads(paths.json.read_text())
    assert document["tags"] == ["ranking", "model-gate", "challenger v2", "champion v1"]
    for display, column in models.items():
        expected = evaluate(frame, column).as_dict()
        assert document["summary"]["rankct"][display] == pytest.approx(expected)
        # Evidently's NDCG@10 is configured to be exactly rankct's.
        assert document["summary"]["evidently"][display]["ndcg@10"] == pytest.approx(
            expected["ndcg@10"])
    assert summary["rankct"]["challenger v2"]["ndcg@10"] > summary["rankct"]["champion v1"][
        "ndcg@10"]
    assert Snapshot.load(str(paths.snapshot)).dict()["metrics"]
    # The Evidently UI shows only the widgets: each names its model.
    for text in (paths.snapshot.read_text(), page):
        for display in models:
            for metric in ("NDCG", "MRR", "Hit Rate"):
                assert f"{display}: {metric} (top-10)" in text

    with pytest.raises(RankctError, match="missing"):
        ranking_report(frame, tmp_path, models={"x": "no_such_column"})


def test_drift_report_and_training_summary(tmp_path):
    reference = synthetic_requests(120, seed=3)
    current = synthetic_requests(120, seed=4)
    current["price"] += 3.0
    result = feature_drift_report(reference, current, FEATURES, tmp_path / "drift",
                                  drift_share=0.5, facts={"data interval": "2026-11-01/07"})
    assert result.drifted_columns == ["price"]
    assert result.share == pytest.approx(1 / len(FEATURES))
    document = json.loads(result.paths.json.read_text())
    assert document["summary"]["drifted_columns"] == ["price"]
    assert document["summary"]["scores"]["price"] == pytest.approx(result.scores["price"])
    assert document["facts"]["data interval"] == "2026-11-01/07"
    page = result.paths.html.read_text()
    assert "<h1>Feature drift</h1>" in page and "Drift score per column" in page

    summary = training_summary_report(current, FEATURES + ["grade", "surface"], tmp_path / "sum")
    assert summary.html.stat().st_size > 10_000
    assert json.loads(summary.json.read_text())["summary"]["rows"] == len(current)

    with pytest.raises(RankctError, match="not in both"):
        feature_drift_report(reference, current.drop(columns="price"), FEATURES, tmp_path)


def test_drift_counts_a_column_that_lost_its_values_and_skips_one_never_filled(tmp_path):
    reference = synthetic_requests(150, seed=3)
    current = synthetic_requests(150, seed=4)
    lost, never = FEATURES[0], FEATURES[1]
    current[lost] = float("nan")
    reference[never] = float("nan")
    result = feature_drift_report(reference, current, FEATURES, tmp_path / "drift")
    assert lost in result.drifted_columns and never not in result.drifted_columns
    summary = json.loads(result.paths.json.read_text())["summary"]
    assert summary["lost_columns"] == [lost] and summary["not_comparable_columns"] == [never]
    assert "Columns without values" in result.paths.html.read_text()
    with pytest.raises(RankctError, match="no feature column has values"):
        feature_drift_report(reference.assign(**{c: float("nan") for c in FEATURES}), current,
                             FEATURES, tmp_path / "none")
