"""The run's NDCG plot: a day stopped at a gate sits on the champion's line, and the model
gate's debiased estimate is drawn beside the truth."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from rankct.orchestrate.plot import _champion_line, ndcg_figure
from rankct.pipeline.outcome import Outcome


def _table() -> pd.DataFrame:
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(6)]
    outcomes = [Outcome.WARM_UP, Outcome.STOPPED_DATA_GATE_1, Outcome.PROMOTED,
                Outcome.STOPPED_DATA_GATE_2, Outcome.REJECTED, Outcome.PROMOTED]
    champion = [np.nan, np.nan, 0.50, np.nan, 0.54, 0.56]
    return pd.DataFrame({
        "day": days, "outcome": outcomes, "version": [None, None, "1", None, "2", "3"],
        "champion": champion, "oracle": [np.nan, np.nan, 0.63, np.nan, 0.64, 0.62],
        "logging_policy": [np.nan, np.nan, 0.49, np.nan, 0.48, 0.49],
        "labels": [None, None, "hidden truth", None, "hidden truth", "hidden truth"],
        "logging_policy_debiased_dcg": [np.nan, np.nan, 4.0, np.nan, 4.1, 4.0],
        "logging_policy_truth_dcg": [np.nan, np.nan, 4.2, np.nan, 4.3, 4.2],
        "champion_debiased_dcg": [np.nan, np.nan, 4.2, np.nan, 4.4, 4.5],
        "champion_truth_dcg": [np.nan, np.nan, 4.4, np.nan, 4.6, 4.7]})


def test_a_stopped_day_sits_on_the_champions_line_not_at_an_arbitrary_height() -> None:
    table = _table()
    line = _champion_line(table, pd.to_datetime(table["day"]), floor=0.4)
    assert line[2] == 0.50 and line[4] == 0.54 and line[5] == 0.56
    assert line[3] == pytest.approx(0.52)  # between the champions around it: the one it kept
    assert line[1] == 0.4  # stopped before any training: nothing was scored that day
    # Rejected before the first champion: on the logging policy's line, which served then.
    table.loc[2, "champion"], table.loc[2, "outcome"] = np.nan, Outcome.REJECTED
    assert _champion_line(table, pd.to_datetime(table["day"]), floor=0.4)[2] == 0.49


def test_the_figure_has_the_debiased_estimates_beside_the_truth() -> None:
    figure = ndcg_figure(_table())
    top, bottom = figure.axes[0], figure.axes[1]
    assert "NDCG@10" in top.get_ylabel() and bottom.get_ylabel() == "DCG@10"
    labels = {line.get_label() for line in bottom.get_lines()}
    assert {"logging policy, debiased", "logging policy, truth", "champion, debiased",
            "champion, truth"} <= labels
    without = _table().drop(columns=[c for c in _table().columns if c.endswith("_dcg")])
    assert len(ndcg_figure(without).axes) == 1
