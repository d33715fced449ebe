"""The run's picture: the champion's NDCG@10 day by day beside the oracle and the logging
policy, with promotions, rejections and stopped days marked on the champion's line (a stopped
day keeps the champion it had); below it, the model gate's debiased DCG@10 of the logging policy
and the champion beside their DCG@10 on the hidden truth. Saved as PNG and logged to MLflow in
a summary run with the same figures as metrics (one step per day)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from rankct.config import RankctConfig
from rankct.pipeline.outcome import Outcome

_MARKERS = {Outcome.PROMOTED: ("^", "#1a7f37", "promoted"),
            Outcome.REJECTED: ("x", "#cf222e", "rejected"),
            Outcome.STOPPED_DATA_GATE_1: ("s", "#6e7781", "stopped at a data gate"),
            Outcome.STOPPED_DATA_GATE_2: ("s", "#6e7781", "stopped at a data gate"),
            Outcome.FAILED: ("X", "#8250df", "failed")}


def ndcg_figure(table: pd.DataFrame) -> Any:
    """The figure of :func:`rankct.orchestrate.ndcg_by_day.ndcg_by_day`'s table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    estimates = [c for c in _DCG_SERIES if c[0] in table.columns and table[c[0]].notna().any()]
    fig, axes = plt.subplots(2 if estimates else 1, 1, sharex=True, squeeze=False,
                             figsize=(10, 7.6 if estimates else 4.8),
                             gridspec_kw={"height_ratios": [3, 2]} if estimates else None)
    ax = axes[0, 0]
    days = pd.to_datetime(table["day"])
    series = (("champion", "o-", "#0969da", "champion"),
              ("oracle", "s--", "#1a7f37", "oracle (true utility)"),
              ("logging_policy", "d:", "#953800", "logging policy"))
    for column, style, color, label in series:
        known = table[column].notna()
        if known.any():  # a stopped day has no value: connect the days around it
            ax.plot(days[known], table.loc[known, column], style, color=color, label=label,
                    markersize=4, zorder=3)
    values = table[["champion", "oracle", "logging_policy"]].stack()
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    floor = low - 0.04
    warm = days[table["outcome"] == Outcome.WARM_UP]
    if len(warm):
        ax.axvspan(warm.min() - pd.Timedelta(hours=12), warm.max() + pd.Timedelta(hours=12),
                   color="#eaeef2", zorder=0, label="warm-up (no training yet)")
    shown = set()
    on_line = _champion_line(table, days, floor)
    for (_, row), day, y in zip(table.iterrows(), days, on_line):
        if row["outcome"] not in _MARKERS:
            continue
        marker, color, label = _MARKERS[row["outcome"]]
        ax.scatter([day], [y], marker=marker, s=110, color=color, zorder=4,
                   label=None if label in shown else label)
        if row.get("version"):
            ax.annotate(f"v{row['version']}", (day, y), textcoords="offset points",
                        xytext=(0, 9), ha="center", fontsize=8, color=color)
        shown.add(label)
    labels = table["labels"].dropna().unique()
    ax.set_title("NDCG@10 of the serving ranker on each day's held-out requests "
                 f"({', '.join(labels) or 'no labels'})")
    ax.set_ylabel("NDCG@10")
    ax.set_ylim(floor - 0.03, high + 0.06)
    ax.xaxis.set_major_locator(mdates.DayLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    if estimates:
        lower = axes[1, 0]
        for column, style, color, label in estimates:
            known = table[column].notna()
            lower.plot(days[known], table.loc[known, column], style, color=color, label=label,
                       markersize=4)
        lower.set_ylabel("DCG@10")
        lower.set_title("the model gate's position-debiased estimate (from the logs) against "
                        "the hidden truth", fontsize=9)
        lower.grid(alpha=0.3)
        lower.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        lower.xaxis.set_major_locator(mdates.DayLocator())
        lower.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


_DCG_SERIES = (("logging_policy_truth_dcg", "d-", "#953800", "logging policy, truth"),
               ("logging_policy_debiased_dcg", "d--", "#f0883e", "logging policy, debiased"),
               ("champion_truth_dcg", "o-", "#0969da", "champion, truth"),
               ("champion_debiased_dcg", "o--", "#54aeff", "champion, debiased"))


def _champion_line(table: pd.DataFrame, days: pd.Series, floor: float) -> list[float]:
    """Where each day sits on the line of what served: the champion's value, or for a day
    without one (a stopped day, which kept its champion) the line between the days around it;
    before the first champion the logging policy served, so its value (the floor where there
    is none, as on a day stopped before any training)."""
    import numpy as np

    known = table["champion"].notna().to_numpy()
    x = days.map(pd.Timestamp.toordinal).to_numpy(dtype=float)
    before = table["logging_policy"].fillna(floor).to_numpy(dtype=float)
    if not known.any():
        return [float(v) for v in before]
    line = np.interp(x, x[known], table["champion"].to_numpy(dtype=float)[known])
    line = np.where(x < x[known][0], before, line)
    return [float(v) for v in line]


def save_and_log(config: RankctConfig, table: pd.DataFrame, out: Path,
                 facts: dict[str, str]) -> dict[str, str]:
    """Write the PNG atomically and log it with the per-day figures to an MLflow run named
    after the range; returns the PNG path and the run's URL."""
    from rankct.registry import open_store
    from rankct.registry.urls import run_url

    figure = ndcg_figure(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}")
    figure.savefig(tmp, dpi=120)
    tmp.replace(out)
    store = open_store(config)
    client = store.client
    run = client.create_run(store.experiment_id(), run_name=f"pipeline summary {facts['range']}",
                            tags={"rankct.kind": "pipeline_summary", **facts})
    from mlflow.entities import Metric

    metrics = [Metric(f"{name}_ndcg_at_10", float(row[name]), 0, step)
               for step, (_, row) in enumerate(table.iterrows())
               for name in ("champion", "oracle", "logging_policy") if pd.notna(row[name])]
    for start in range(0, len(metrics), 900):  # MLflow takes at most 1000 metrics per batch
        client.log_batch(run.info.run_id, metrics=metrics[start:start + 900])
    client.log_figure(run.info.run_id, figure, "ndcg_by_day.png")
    client.log_table(run.info.run_id, table.assign(day=table["day"].astype(str)),
                     "ndcg_by_day.json")
    client.set_terminated(run.info.run_id)
    return {"png": str(out), "mlflow_url": run_url(config, store, run.info.run_id)}
