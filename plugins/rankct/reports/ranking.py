"""Ranking quality of the champion and the challenger, side by side, on the same requests.

Both rankings are declared as Evidently ranking tasks (``Recsys``) over one frame, so each metric
appears once per model. Evidently's NDCG has a linear gain and would count requests without a
relevant item as 0: it is given rankct's gain (2^grade - 1) as its target, the ranks rankct's
metrics use (ties in frame order) as predictions, and excludes requests without feedback, so its
NDCG@k is exactly rankct's. MAP is left to rankct's table: Evidently's MAP@k reads the frame's
row order as the ranking, which cannot hold for two models at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rankct.errors import RankctError
from rankct.evaluation.metrics import graded_labels, per_request_metrics, rank_requests, summarize
from rankct.reports.publish import Header, ReportPaths, publish, run_snapshot

_EVIDENTLY_METRICS = ("NDCG", "MRR", "HitRate")


def ranking_report(frame: pd.DataFrame, out_dir: Path | str, *,
                   models: dict[str, str], label: str = "grade", request: str = "request_id",
                   item: str = "item_id", k: int = 10, facts: dict[str, str] | None = None,
                   slice_tables: dict[str, pd.DataFrame] | None = None,
                   name: str = "ranking_quality") -> tuple[ReportPaths, dict[str, Any]]:
    """Write the ranking-quality report of ``models`` (display name -> score column).

    E.g. ``models={"challenger v7": "challenger", "champion v5": "champion"}``. Returns the paths
    and the summary written into the JSON: rankct's metrics and Evidently's @k values per model.
    """
    from evidently import DataDefinition
    from evidently import metrics as ev
    from evidently.core.datasets import Recsys

    if not models:
        raise RankctError("ranking report needs at least one model score column")
    missing = [c for c in [label, request, item, *models.values()] if c not in frame.columns]
    if missing:
        raise RankctError(f"ranking report: columns {missing} missing from the evaluation frame")
    gains = np.exp2(graded_labels(frame, label)) - 1.0
    data = pd.DataFrame({"request": frame[request].to_numpy(), "item": frame[item].to_numpy(),
                         "gain": gains})
    tasks, rankers = [], {}
    for i, (display, column) in enumerate(models.items()):
        task = f"model_{i}"
        rankers[display] = task
        data[f"rank_{task}"] = rank_requests(frame, column, request).frame_ranks()
        tasks.append(Recsys(name=display, user_id="request", item_id="item", target="gain",
                            prediction=f"rank_{task}", recommendations_type="rank"))
    # Evidently reads the value at k from a curve that stops at the longest list.
    k_eff = int(min(k, data.groupby("request").size().max()))
    definition = DataDefinition(numerical_columns=["gain", *(f"rank_{t}" for t in rankers.values())],
                                ranking=tasks)
    metrics = [getattr(ev, metric)(k=k_eff, ranking_name=display)
               for metric in _EVIDENTLY_METRICS for display in models]

    summary = {display: summarize(per_request_metrics(frame, column, label, request,
                                                      keep_unscored=True)).as_dict()
               for display, column in models.items()}
    table = pd.DataFrame(summary).rename_axis("metric").reset_index()
    header = Header(
        title="Ranking quality: " + " vs ".join(models),
        description=(f"The same {summary[next(iter(models))]['n_requests']:,} held-out requests "
                     f"ranked by each model. NDCG uses gain 2^grade - 1 and a log2 discount; "
                     f"requests without any relevant item are left out (counted in "
                     f"n_excluded_no_relevant). Evidently's curves below are per model, "
                     f"@{k_eff}."),
        tags=["ranking", "model-gate", *models],
        facts={**(facts or {}), "cut-off k": str(k_eff)},
        tables={"Mean metrics per model (rankct definitions)": table, **(slice_tables or {})})
    snapshot = run_snapshot(metrics, data, None, definition, header)
    results = snapshot.dict()
    _name_widgets_by_model(snapshot, results)
    summary_out = {"k": k_eff, "rankct": summary,
                   "evidently": _evidently_values(results, k_eff)}
    return publish(snapshot, header, summary_out, out_dir, name), summary_out


def _name_widgets_by_model(snapshot: Any, results: dict[str, Any]) -> None:
    """Put the model's name on each metric's counters.

    Evidently labels a ranking metric "NDCG (top-10)..." and its value "current" whatever the
    ranking task: in the Evidently UI, which shows widgets and not rankct's header, the two
    models' curves would be told apart only by their order. ``results`` is ``snapshot.dict()``.
    """
    names = {m["id"]: m["config"].get("ranking_name") for m in results["metrics"]}
    for metric_id, result in snapshot.metric_results.items():
        model = names.get(metric_id)
        if not model:
            continue
        for widget in result.widget or []:
            for counter in widget.params.get("counters", []) if widget.type == "counter" else []:
                label = counter.get("label", "")
                counter["label"] = model if label == "current" else f"{model}: {label}"


def _evidently_values(snapshot: dict[str, Any], k: int) -> dict[str, dict[str, float]]:
    """{model: {"ndcg@k": v, ...}} from the snapshot's curves (value at position k - 1)."""
    values: dict[str, dict[str, float]] = {}
    for metric in snapshot["metrics"]:
        kind = metric["config"]["type"].rsplit(":", 1)[-1].lower()
        curve = list(metric["value"]["value"].values())
        model = metric["config"]["ranking_name"]
        values.setdefault(model, {})[f"{kind}@{k}"] = float(curve[min(k, len(curve)) - 1])
    return values
