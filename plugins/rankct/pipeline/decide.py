"""The model gate on what the evaluate stage left, and the two ways out of it: promote the
challenger (alias ``champion``) or reject it with reasons.

Judging and acting are separate stages: the gate writes the decision record, the serving
export runs for a passed challenger, and only then does ``promote`` move the alias, reading the
verdict back from the record. A run killed anywhere in between leaves the champion as it was.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from rankct.config import RankctConfig
from rankct.errors import RankctError
from rankct.pipeline.day import DayRun
from rankct.pipeline.outcome import Outcome


def _verdict(summary: dict[str, Any]) -> Any:
    from rankct.gates.checks import Check, Verdict

    extra = {k: v for k, v in summary.items()
             if k not in ("passed", "reasons", "checks", "report_url")}
    return Verdict([Check(**check) for check in summary["checks"]], extra)


def judge_challenger(config: RankctConfig, day: date) -> dict[str, Any]:
    """Run the model gate on the day's challenger and write its decision record.

    Returns the decision (``passed``, ``reasons``, ``record``); a rejection is an outcome, not
    an error: the run goes on to record it. The registry is not changed here.
    """
    from rankct.evaluation.baseline import LoggedBaseline
    from rankct.evaluation.comparison import Churn
    from rankct.export.parity import ParityReport
    from rankct.gates.apply import decide
    from rankct.registry import open_store
    from rankct.registry.urls import artifact_url, version_run_id

    run = DayRun(config, day)
    evaluated = run.read("evaluate")
    per_request = {name: pd.read_parquet(run.evaluation / f"per_request_{name}.parquet")
                   for name in evaluated["metrics"]}
    store = open_store(config)
    decision = decide(
        store, config, evaluated["version"], challenger=per_request["challenger"],
        champion=per_request.get("champion"), evaluated_champion=evaluated["champion"],
        data_gate=_verdict(run.read("validate_training_set")),
        churn=Churn(**evaluated["churn"]) if evaluated["churn"] else None,
        slices=pd.read_parquet(run.evaluation / "slices_challenger.parquet"),
        parity=ParityReport(**evaluated["parity"]),
        baseline=LoggedBaseline.load(run.evaluation))
    if decision.passed:
        run.record_outcome(Outcome.PASSED, "passed the model gate; not promoted yet",
                           decision.version)
    record_url = artifact_url(config, store, version_run_id(store, decision.version),
                              f"gate/{decision.record.name}")
    return run.write("gate", {
        "version": decision.version, "passed": decision.passed, "reasons": decision.reasons,
        "outcome": Outcome.PROMOTED if decision.passed else Outcome.REJECTED,
        "champion": evaluated["champion"], "record": str(decision.record),
        "decision_url": record_url})


def _apply(config: RankctConfig, day: date, expect_passed: bool,
           airflow_run_id: str | None = None) -> tuple[DayRun, Any]:
    from pathlib import Path

    from rankct.gates.apply import apply_decision
    from rankct.registry import open_store

    run = DayRun(config, day)
    gate = run.read("gate")
    if gate["passed"] is not expect_passed:
        action = "promote" if expect_passed else "reject"
        raise RankctError(f"version {gate['version']} was {gate['outcome']} by the gate of "
                          f"{day}: it cannot be {action}d",
                          hint="the gate task chooses the branch: re-run it, not this task")
    if expect_passed:
        # The serving artifacts must exist before the alias says "serve this".
        shipped = run.read("export")
        if str(shipped["version"]) != str(gate["version"]):
            raise RankctError(f"the export of {day} is of version {shipped['version']}, not "
                              f"{gate['version']}", hint="re-run the export task of this run")
    return run, apply_decision(open_store(config), gate["version"], Path(gate["record"]),
                               run=airflow_run_id)


def promote_challenger(config: RankctConfig, day: date,
                       airflow_run_id: str | None = None) -> dict[str, Any]:
    """Move ``champion`` to the day's challenger, which the gate passed and the export shipped.

    The champion it replaces keeps the alias ``previous_champion`` (for ``rankct rollback``).
    A version that was rolled back since is refused (a retried or cleared task cannot undo
    the rollback); the move is recorded in the alias history with ``airflow_run_id``.
    """
    from rankct.registry.urls import version_url

    run, decision = _apply(config, day, expect_passed=True, airflow_run_id=airflow_run_id)
    shipped = run.read("export")
    run.record_outcome(Outcome.PROMOTED, f"replaced v{decision.replaced}" if decision.replaced
                       else "first champion", decision.version)
    return run.write("promote", {
        "version": decision.version, "champion": decision.champion,
        "replaced": decision.replaced, "onnx": shipped["onnx"],
        "onnx_sha256": shipped["onnx_sha256"], "day": day.isoformat(),
        "mlflow_url": version_url(config, config.mlflow.registered_model, decision.version)})


def reject_challenger(config: RankctConfig, day: date) -> dict[str, Any]:
    """Tag the day's challenger ``rejected`` with the gate's reasons; the champion stays."""
    from rankct.registry.urls import version_url

    run, decision = _apply(config, day, expect_passed=False)
    run.record_outcome(Outcome.REJECTED, "; ".join(decision.reasons), decision.version)
    return run.write("reject", {
        "version": decision.version, "reasons": decision.reasons,
        "champion": decision.champion,
        "mlflow_url": version_url(config, config.mlflow.registered_model, decision.version)})
