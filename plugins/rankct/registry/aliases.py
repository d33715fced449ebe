"""Champion and challenger: which version serves, promotion, rejection and rollback.

Serving follows the alias ``champion``; moving it is the one publishing step, so it comes last.
A promoted version records the champion it replaced (tag ``previous_champion``), and the alias
``previous_champion`` points at that version, so a rollback restores it and can go on down the
chain. Every move of ``champion`` runs under the alias lock (one writer at a time), re-reads the
aliases inside it, and is appended to the alias history (``rankct models --history``).

A version that a rollback removed is tagged ``rolled_back`` and is never promoted again: a
retried or cleared promotion task of its day is refused; only a new training run can replace
the champion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rankct.errors import RankctError
from rankct.registry.history import AliasAction, AliasChange, append_change
from rankct.registry.lock import alias_lock
from rankct.registry.store import (
    ALIAS_CHAMPION,
    ALIAS_PREVIOUS,
    PASSED,
    REJECTED,
    TAG_DATA_INTERVAL,
    TAG_DECISION_SHA256,
    TAG_GATE_DECISION,
    TAG_GATE_REASONS,
    TAG_PREVIOUS_CHAMPION,
    TAG_ROLLED_BACK,
    Store,
)

# ``promote(expected_champion=ANY)``: do not hold the promotion to a particular champion.
ANY = object()


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as the CLI lists it."""

    version: str
    aliases: list[str]
    decision: str
    reasons: str
    data_interval: str
    run_id: str


def alias_version(store: Store, alias: str) -> str | None:
    """The version an alias points at, or None when the alias (or the model) does not exist.

    Only MLflow's "not found" means None: a store that does not answer raises
    :class:`rankct.errors.ServiceUnavailable` after its retries, so an outage is never
    mistaken for "there is no champion" (which would judge the next challenger on floors alone).
    """
    from mlflow.exceptions import MlflowException

    try:
        return str(store.client.get_model_version_by_alias(store.model_name, alias).version)
    except MlflowException as exc:
        if _not_found(exc):
            return None
        raise


def _not_found(exc: Any) -> bool:
    """MLflow's answers for a missing model (RESOURCE_DOES_NOT_EXIST) or alias (its message)."""
    if getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST":
        return True
    message = str(getattr(exc, "message", exc))
    return (getattr(exc, "error_code", None) == "INVALID_PARAMETER_VALUE"
            and "alias" in message and "not found" in message)


def champion_version(store: Store) -> str | None:
    """The version serving now, or None before the first promotion."""
    return alias_version(store, ALIAS_CHAMPION)


def load_booster(store: Store, ref: str) -> Any:
    """The xgboost Booster of a version number ("3") or an alias ("champion")."""
    import mlflow.xgboost

    version = ref if ref.isdigit() else alias_version(store, ref)
    if version is None:
        raise RankctError(f"model {store.model_name!r} has no version with alias {ref!r}",
                          hint="list versions and aliases with `rankct models`")
    with store.activated():
        return mlflow.xgboost.load_model(f"models:/{store.model_name}/{version}")


def set_version_tags(store: Store, version: str, tags: dict[str, str]) -> None:
    """Add tags to a version (e.g. the ONNX sha256 once the export wrote it)."""
    for key, value in tags.items():
        store.client.set_model_version_tag(store.model_name, version, key, str(value))


def record_decision(store: Store, version: str, passed: bool, reasons: list[str]) -> None:
    """Tag the gate's verdict on a version."""
    set_version_tags(store, version, {TAG_GATE_DECISION: PASSED if passed else REJECTED,
                                      TAG_GATE_REASONS: "; ".join(reasons) or "all checks passed"})


def promote(store: Store, version: str, *, expected_champion: Any = ANY,
            reason: str = "passed the model gate", run: str | None = None) -> str | None:
    """Make ``version`` the champion; return the champion it replaced (None if none).

    Only a version the gate passed and no rollback removed can be promoted. With
    ``expected_champion`` the promotion happens only if the champion is still that version
    (None: still none), checked under the alias lock: a decision taken against another champion
    is stale. Promoting the current champion changes nothing and returns the version it replaced.
    """
    version = str(version)
    with alias_lock(store):
        tags = store.client.get_model_version(store.model_name, version).tags
        if tags.get(TAG_GATE_DECISION) != PASSED:
            raise RankctError(f"version {version} of {store.model_name} has gate decision "
                              f"{tags.get(TAG_GATE_DECISION)!r}, not 'passed': not promoted",
                              hint="run the model gate on it (decide_and_apply)")
        if tags.get(TAG_ROLLED_BACK) == "true":
            raise RankctError(f"version {version} of {store.model_name} was rolled back: it is "
                              "not promoted again",
                              hint="a new training run makes a new challenger; `rankct models "
                                   "--history` shows when and why it was rolled back")
        current = champion_version(store)
        if current == version:
            return tags.get(TAG_PREVIOUS_CHAMPION)
        if expected_champion is not ANY and current != expected_champion:
            raise RankctError(f"the champion is version {current}, but version {version} was "
                              f"judged against {expected_champion or 'no champion'}",
                              hint="evaluate the challenger against the current champion again")
        if current is not None:
            store.client.set_model_version_tag(store.model_name, version,
                                               TAG_PREVIOUS_CHAMPION, current)
            store.client.set_registered_model_alias(store.model_name, ALIAS_PREVIOUS, current)
        store.client.set_registered_model_alias(store.model_name, ALIAS_CHAMPION, version)
        append_change(store.state_dir, AliasChange.now(
            AliasAction.PROMOTE, store.model_name, version, current, reason, run,
            tags.get(TAG_DECISION_SHA256)))
    return current


def reject(store: Store, version: str, reasons: list[str]) -> None:
    """Tag ``version`` rejected with its reasons; the champion stays where it is."""
    if champion_version(store) == str(version):
        raise RankctError(f"version {version} is the champion and cannot be rejected",
                          hint="use `rankct rollback` to restore the previous champion")
    record_decision(store, str(version), False, reasons or ["rejected"])


def rollback(store: Store, *, reason: str = "rolled back by an operator",
             run: str | None = None) -> str:
    """Restore the previous champion; return the version serving now.

    The version it removes is tagged ``rolled_back`` and is never promoted again.
    """
    with alias_lock(store):
        current = champion_version(store)
        previous = alias_version(store, ALIAS_PREVIOUS)
        if current is None or previous is None:
            raise RankctError(f"model {store.model_name!r} has no previous champion to roll back "
                              f"to (champion: {current or 'none'})",
                              hint="a rollback needs at least two promotions")
        client = store.client
        client.set_model_version_tag(store.model_name, current, TAG_ROLLED_BACK, "true")
        client.set_registered_model_alias(store.model_name, ALIAS_CHAMPION, previous)
        before = client.get_model_version(store.model_name, previous).tags.get(
            TAG_PREVIOUS_CHAMPION)
        if before:
            client.set_registered_model_alias(store.model_name, ALIAS_PREVIOUS, before)
        else:
            client.delete_registered_model_alias(store.model_name, ALIAS_PREVIOUS)
        append_change(store.state_dir, AliasChange.now(
            AliasAction.ROLLBACK, store.model_name, previous, current, reason, run))
    return previous


def list_versions(store: Store) -> list[VersionInfo]:
    """Every version of the model, newest first, with aliases and gate decisions."""
    versions = store.client.search_model_versions(f"name = '{store.model_name}'")
    if not versions:  # the model may not be registered yet, and get_registered_model fails
        return []
    # Search results may leave aliases out; the registered model lists them all.
    aliases: dict[str, list[str]] = {}
    for alias, version in store.client.get_registered_model(store.model_name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    rows = [VersionInfo(version=str(v.version), aliases=sorted(aliases.get(str(v.version), [])),
                        decision=v.tags.get(TAG_GATE_DECISION, ""),
                        reasons=v.tags.get(TAG_GATE_REASONS, ""),
                        data_interval=v.tags.get(TAG_DATA_INTERVAL, ""), run_id=v.run_id or "")
            for v in versions]
    return sorted(rows, key=lambda row: int(row.version), reverse=True)
