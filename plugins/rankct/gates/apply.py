"""Run the model gate on a registered challenger and act on the verdict.

The order makes a killed task harmless: :func:`decide` writes the decision record first;
:func:`apply_decision` then tags the version with the verdict read back from that record, and
the champion alias moves last (only for a version tagged ``passed``;
:func:`rankct.registry.promote` refuses any other). The training DAG runs the two as separate
tasks, with the serving export between them, so the alias never points at a version whose
artifacts do not exist yet. A re-run repeats the same steps to the same end state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from rankct.config import RankctConfig
from rankct.errors import RankctError
from rankct.evaluation.comparison import Churn
from rankct.gates.checks import Verdict
from rankct.gates.model_gate import model_gate
from rankct.io import write_json_atomic
from rankct.registry.aliases import champion_version, promote, record_decision, reject
from rankct.registry.runs import log_files, version_reports_dir
from rankct.registry.store import TAG_PREVIOUS_CHAMPION, Store

if TYPE_CHECKING:
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
           parity: ParityReport | None = None) -> Decision:
    """Judge ``version`` against the champion it was evaluated with and write the decision
    record (also logged on the version's MLflow run). Nothing in the registry changes yet:
    :func:`apply_decision` acts on it.

    ``evaluated_champion`` is the champion version whose per-request metrics are ``champion``
    (None for the first model); it must still be the champion, or the comparison is stale.
    """
    version = str(version)
    _require_current(store, version, evaluated_champion)
    if (champion is None) != (evaluated_champion is None):
        raise RankctError("champion metrics must be given exactly when a champion was evaluated")
    verdict = model_gate(challenger, champion, config.gate, data_gate=data_gate, churn=churn,
                         slices=slices, parity=parity)
    verdict.extra.update(model=store.model_name, challenger_version=version,
                         champion_version=evaluated_champion,
                         outcome="promoted" if verdict.passed else "rejected")
    path = write_json_atomic(decision_path(config, version), verdict.as_dict())
    log_files(store, version, [path], "gate")
    return Decision(version, verdict, path, evaluated_champion, None)


def apply_decision(store: Store, version: str, record: Path) -> Decision:
    """Act on the decision record of ``version``: tag it and, if it passed, move ``champion``.

    The record is read back from disk, so only what the gate wrote can promote a version, and a
    champion that changed since the decision makes the decision stale (refused).
    """
    import json

    from rankct.gates.checks import Check

    document = json.loads(Path(record).read_text())
    if str(document.get("challenger_version")) != str(version):
        raise RankctError(f"decision record {record} is about version "
                          f"{document.get('challenger_version')}, not {version}",
                          hint="re-run the gate task of this run")
    evaluated = document.get("champion_version")
    _require_current(store, str(version), evaluated)
    extra = {k: v for k, v in document.items() if k not in ("passed", "reasons", "checks")}
    verdict = Verdict([Check(**check) for check in document["checks"]], extra)
    if verdict.passed:
        record_decision(store, str(version), True, [])
        # A re-run finds the alias already moved: the replaced version is in the tags.
        replaced = promote(store, str(version)) or store.client.get_model_version(
            store.model_name, str(version)).tags.get(TAG_PREVIOUS_CHAMPION)
        return Decision(str(version), verdict, Path(record), str(version), replaced)
    reject(store, str(version), verdict.reasons)
    return Decision(str(version), verdict, Path(record), champion_version(store), None)


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
