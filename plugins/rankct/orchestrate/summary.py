"""The summary printed at the end of ``make run`` / ``rankct run``: every day's gate decision,
the champion's NDCG@10 beside the oracle and the logging policy, scoring and monitoring, where
the reports and the ONNX model are, the plot, and how to open the UIs."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pandas as pd

from rankct.config import RankctConfig
from rankct.orchestrate.run import PipelineReport
from rankct.pipeline.outcome import Outcome


def summarize(config: RankctConfig, report: PipelineReport,
              bad_day: date | None = None) -> tuple[str, dict[str, Any]]:
    """The text summary and its JSON form (also written to ``reports/summary/``)."""
    from rankct.io import write_json_atomic
    from rankct.orchestrate.ndcg_by_day import ndcg_by_day
    from rankct.orchestrate.plot import save_and_log
    from rankct.orchestrate.status import platform_status

    outcomes = report.outcomes()
    table = ndcg_by_day(config, outcomes)
    out_dir = config.reports_dir / "summary"
    span = f"{report.start}..{report.end}"
    plot = (save_and_log(config, table, out_dir / "ndcg_by_day.png", {"range": span})
            if table["champion"].notna().any() else None)
    status = platform_status(config)
    lines = [(f"rankct run: {len(outcomes)} day(s) {span} under {config.home} "
              f"in {report.seconds:.0f}s"), "",
             f"  {'day':<10}  {'gate decision / outcome':<24} {'ver':<4} detail"]
    for outcome in outcomes:
        version = f"v{outcome['version']}" if outcome.get("version") else ""
        lines.append(f"  {outcome['day']:<10}  {outcome['state']:<24} {version:<4} "
                     f"{outcome.get('detail', '')}".rstrip())
    if bad_day is not None:
        stopped = next((o for o in outcomes if o["day"] == bad_day.isoformat()), None)
        verdict = ("stopped at the data gate; the champion was left untouched"
                   if stopped and stopped["state"] == Outcome.STOPPED_DATA_GATE_1
                   else f"NOT stopped at the data gate ({stopped and stopped['state']})")
        lines += ["", f"  {bad_day} carried damaged data: {verdict}."]
    trained = table[table["champion"].notna()]
    champion = status["champion"]
    if champion and len(trained):
        last = trained.iloc[-1]
        refs = (f", oracle {last['oracle']:.4f}" if last["oracle"] == last["oracle"] else "")
        lines += ["", (f"  champion: {status['model']} v{champion['version']} "
                       f"(data {champion['data_interval']}); NDCG@10 on the {last['labels']} of "
                       f"{last['day']}'s test requests: champion {last['champion']:.4f}{refs}, "
                       f"logging policy {last['logging_policy']:.4f}")]
        lines += _estimates(last)
    elif not champion:
        lines += ["", "  no champion yet: no challenger passed the model gate"]
    if report.scoring is not None:
        scoring = status["scoring"]
        lines.append(f"  batch scoring {report.scoring.day}: {report.scoring.state}"
                     + (f", {scoring['rows']:,} recommendations for {scoring['users']:,} users "
                        f"-> {scoring['path']}" if scoring else ""))
    if report.monitoring is not None:
        checks = status["monitoring"]["checks"]
        lines.append(f"  monitoring {report.monitoring.day}: " + ", ".join(
            f"{name} {'ok' if c['passed'] else 'FAILED'}" for name, c in checks.items()))
    lines += ["", f"  reports      {config.reports_dir} (and in the Evidently UI)"]
    if champion and champion.get("onnx"):
        lines.append(f"  ONNX model   {champion['onnx']} (+ Vespa zip, Triton repository "
                     "beside it)")
    if plot:
        lines.append(f"  NDCG plot    {plot['png']} (MLflow: {plot['mlflow_url']})")
    uis = (f"Airflow {config.ui.airflow_url}  MLflow {config.ui.mlflow_url}  "
           f"Evidently {config.ui.evidently_url}")
    if config.profile == "prod":  # the stack's scheduler ran the tasks; its servers serve
        from rankct.stack.settings import stack_home

        lines.append(f"  Airflow logs {stack_home(config) / 'airflow' / 'logs'}")
        lines += ["", f"  the stack serves the UIs: {uis}",
                  ("  status:       .venv/bin/rankct status --profile prod; "
                  "rankct stack status --profile prod")]
    else:
        lines.append(f"  Airflow logs {config.home / 'airflow'}")
        lines += ["", f"  open the UIs: make ui  ->  {uis}",
                  "  status:       .venv/bin/rankct status"]
    document = {"range": span, "seconds": report.seconds, "outcomes": outcomes,
                "ndcg_by_day": json.loads(table.assign(day=table["day"].astype(str))
                                          .to_json(orient="records")),
                "plot": plot, "bad_day": bad_day and bad_day.isoformat(),
                "status": status}
    write_json_atomic(out_dir / "summary.json", document)
    return "\n".join(lines), document


def _estimates(last: Any) -> list[str]:
    """The model gate's debiased DCG@10 of the logging policy and the champion beside their
    DCG@10 on the hidden truth, for the last evaluated day."""
    lines = []
    for who, name in (("logging_policy", "logging policy"), ("champion", "champion")):
        estimate, truth = last.get(f"{who}_debiased_dcg"), last.get(f"{who}_truth_dcg")
        if pd.isna(estimate):
            continue
        line = f"  {name}: debiased DCG@10 {estimate:.3f} (estimated from the logs)"
        if pd.notna(truth):
            line += f", {truth:.3f} on the hidden truth ({estimate / truth - 1:+.1%})"
        lines.append(line)
    return lines
