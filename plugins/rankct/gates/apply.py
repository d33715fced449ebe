"""Run the model gate on a registered challenger and act on the verdict.

The order makes a killed task harmless: :func:`decide` writes the decision record first and
logs its sha256 on the version; :func:`apply_decision` then reads the record back, refuses it
unless its digest is the one the gate logged and every mandatory check is in it and passed,
tags the version with the verdict, and the champion alias moves last (only for a version tagged
``passed``; :func:`rankct.registry.promote` refuses any other, and any version a rollback
removed). The training DAG runs the two as separate tasks, with the serving export between
them, so the alias never points at a version whose artifacts do not exist yet. A re-run
repeats the same steps to the same end state.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from rankct.config import RankctConfig
from rankct.digests import sha256_file
from rankct.errors import RankctError
from rankct.evaluation.comparison import Churn
from rankct.gates.checks import Check, Verdict
from rankct.gates.model_gate import model_gate
from rankct.io import write_json_atomic
from rankct.registry.aliases import (
    champion_version,
    promote,
    record_decision,
    reject,
    set_version_tags,
)
from rankct.registry.runs import log_files, version_reports_dir
from rankct.registry.store import TAG_DECISION_SHA256, Store

# Checks a decision must hold, passed, before it can promote: whatever else is configured, a
# record without them did not come from the model gate (or the gate skipped something). The
# logged ranking is a baseline of every decision, the first model's included.
MANDATORY_CHECKS = ("ndcg_floor", "logging_baseline", "onnx_parity", "data_gate_2")
# ...and, when a champion was evaluated, the paired comparison with it.
MANDATORY_WITH_CHAMPION = ("non_regression",)

if TYPE_CHECKING:
    from rankct.evaluation.baseline import LoggedBaseline
    from rankct.export.parity import ParityReport


@dataclass(frozen=True)
class Decision:
    """What the gate decided about a version and what serves afterwards."""

    version: str
    verdict: Verdict
    record: Path
    champion: str | None  # the champion after the decision was applied (before: the evaluated one)
    replaced: str | None  # the champion it replaced, when the version was promoted

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    @property
    def reasons(self) -> list[str]:
        return self.verdict.reasons


def decision_path(config: RankctConfig, version: str) -> Path:
    """Where the decision record of a version lives under the reports folder."""
    return version_reports_dir(config, "model_gate", version) / "decision.json"


def decide(store: Store, config: RankctConfig, version: str, *,
           challenger: pd.DataFrame, champion: pd.DataFrame | None,
           evaluated_champion: str | None, data_gate: Verdict,
           churn: Churn | None = None, slices: pd.DataFrame | None = None,
           parity: ParityReport | None = None,
           baseline: LoggedBaseline | None = None) -> Decision:
    """Judge ``version`` against the champion it was evaluated with and write the decision
    record (also logged on the version's MLflow run). Nothing in the registry changes yet:
    :func:`apply_decision` acts on it.

    ``evaluated_champion`` is the champion version whose per-request metrics are ``champion``
    (None for the first model); it must still be the champion, or the comparison is stale.
    ``baseline`` compares the challenger with the logged ranking (mandatory to promote).
    """
    version = str(version)
    _require_current(store, version, evaluated_champion)
    if (champion is None) != (evaluated_champion is None):
        raise RankctError("champion metrics must be given exactly when a champion was evaluated")
    verdict = model_gate(challenger, champion, config.gate, data_gate=data_gate, churn=churn,
                         slices=slices, parity=parity, baseline=baseline)
    verdict.extra.update(model=store.model_name, challenger_version=version,
                         champion_version=evaluated_champion,
                         outcome="promoted" if verdict.passed else "rejected",
                         run_overrides=config.run_overrides)
    path = write_json_atomic(decision_path(config, version), verdict.as_dict())
    set_version_tags(store, version, {TAG_DECISION_SHA256: sha256_file(path)})
    log_files(store, version, [path], "gate")
    return Decision(version, verdict, path, evaluated_champion, None)


def missing_checks(verdict: Verdict, evaluated_champion: str | None) -> list[str]:
    """Mandatory checks that are absent from ``verdict`` or did not pass."""
    required = MANDATORY_CHECKS + (MANDATORY_WITH_CHAMPION if evaluated_champion else ())
    found = {check.name: check for check in verdict.checks}
    missing = [name for name in required if name not in found or not found[name].passed]
    if evaluated_champion and "non_regression" in found and found["non_regression"].value is None:
        missing.append("non_regression (a champion was evaluated, but nothing was compared)")
    return missing


def apply_decision(store: Store, version: str, record: Path, *,
                   run: str | None = None) -> Decision:
    """Act on the decision record of ``version``: tag it and, if it passed, move ``champion``.

    The record is read back from disk and must be byte for byte the one the gate wrote (its
    sha256 is the version's ``decision_sha256`` tag); a promotion also needs every mandatory
    check in it, passed, and the champion it was judged against still serving.
    """
    version = str(version)
    data = Path(record).read_bytes()
    logged = store.client.get_model_version(store.model_name, version).tags.get(
        TAG_DECISION_SHA256)
    digest = hashlib.sha256(data).hexdigest()
    if logged != digest:
        raise RankctError(f"decision record {record} (sha256 {digest[:12]}...) is not the one the "
                          f"gate logged on version {version} "
                          f"({(logged or 'none')[:12]}...): not acting on it",
                          hint="re-run the gate task of this run; never edit a decision record")
    document = json.loads(data)
    if str(document.get("challenger_version")) != version:
        raise RankctError(f"decision record {record} is about version "
                          f"{document.get('challenger_version')}, not {version}",
                          hint="re-run the gate task of this run")
    evaluated = document.get("champion_version")
    extra = {k: v for k, v in document.items() if k not in ("passed", "reasons", "checks")}
    verdict = Verdict([Check(**check) for check in document["checks"]], extra)
    if verdict.passed or document.get("passed"):
        missing = missing_checks(verdict, evaluated)
        if missing or not verdict.passed:
            raise RankctError(f"decision record {record} passes version {version} without the "
                              f"mandatory check(s) {', '.join(missing) or '(none missing)'}"
                              + ("" if verdict.passed else " or with failed checks")
                              + ": not promoted",
                              hint="re-run the gate task; the champion is unchanged")
        record_decision(store, version, True, [])
        # A re-run finds the alias already moved: promote returns the version it replaced.
        replaced = promote(store, version, expected_champion=evaluated, run=run,
                           reason=f"passed the model gate (decision record {record}, "
                                  f"sha256 {digest[:12]}...)")
        return Decision(version, verdict, Path(record), version, replaced)
    reject(store, version, verdict.reasons)
    return Decision(version, verdict, Path(record), champion_version(store), None)


def decide_and_apply(store: Store, config: RankctConfig, version: str, **inputs) -> Decision:
    """:func:`decide`, then :func:`apply_decision`: judge, record, then promote or reject."""
    decision = decide(store, config, version, **inputs)
    return apply_decision(store, decision.version, decision.record)


def _require_current(store: Store, version: str, evaluated_champion: str | None) -> None:
    current = champion_version(store)
    # The version itself may already serve: a re-run after the alias moved decides the same.
    if current not in (evaluated_champion, version):
        raise RankctError(f"the champion is version {current}, but the challenger was compared "
                          f"with {evaluated_champion}",
                          hint="evaluate the challenger against the current champion again")
