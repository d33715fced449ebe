"""Run the model gate on a registered challenger and act on the verdict.

The order makes a killed task harmless: the decision record is written first, then the version
is tagged with the verdict, and the champion alias moves last (only for a version tagged
``passed``; :func:`rankct.registry.promote` refuses any other). A re-run repeats the same steps
to the same end state.
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
from rankct.registry.store import Store

if TYPE_CHECKING:
    from rankct.export.parity import ParityReport


@dataclass(frozen=True)
class Decision:
    """What the gate decided about a version and what serves afterwards."""

    version: str
    verdict: Verdict
    record: Path
    champion: str | None  # the champion after the decision was applied
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


def decide_and_apply(store: Store, config: RankctConfig, version: str, *,
                     challenger: pd.DataFrame, champion: pd.DataFrame | None,
                     evaluated_champion: str | None, data_gate: Verdict,
                     churn: Churn | None = None, slices: pd.DataFrame | None = None,
                     parity: ParityReport | None = None) -> Decision:
    """Judge ``version`` against the champion it was evaluated with, then promote or reject.

    ``evaluated_champion`` is the champion version whose per-request metrics are ``champion``
    (None for the first model); it must still be the champion, or the comparison is stale.
    """
    version = str(version)
    current = champion_version(store)
    # The version itself may already serve: a re-run after the alias moved decides the same.
    if current not in (evaluated_champion, version):
        raise RankctError(f"the champion is version {current}, but the challenger was compared "
                          f"with {evaluated_champion}",
                          hint="evaluate the challenger against the current champion again")
    if (champion is None) != (evaluated_champion is None):
        raise RankctError("champion metrics must be given exactly when a champion was evaluated")
    verdict = model_gate(challenger, champion, config.gate, data_gate=data_gate, churn=churn,
                         slices=slices, parity=parity)
    verdict.extra.update(model=store.model_name, challenger_version=version,
                         champion_version=evaluated_champion,
                         outcome="promoted" if verdict.passed else "rejected")
    path = write_json_atomic(decision_path(config, version), verdict.as_dict())
    log_files(store, version, [path], "gate")
    if verdict.passed:
        record_decision(store, version, True, [])
        replaced = promote(store, version)
        return Decision(version, verdict, path, version, replaced)
    reject(store, version, verdict.reasons)
    return Decision(version, verdict, path, champion_version(store), None)
