"""Reports in the Evidently UI: every published snapshot is added to a local Evidently workspace
under ``<home>/evidently``, one project per kind of report, so analysts browse them in
``evidently ui`` and Airflow links to each one.

A report has a stable key (its snapshot file); publishing the same key again (a re-run) replaces
the earlier snapshot instead of adding a second one. Tasks may publish concurrently (the
scheduler runs them in parallel), so changes to the workspace happen under a file lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rankct.config import RankctConfig
from rankct.io import write_json_atomic

# Projects as the Evidently UI lists them: one per question an analyst asks.
PROJECTS = {
    "data_quality": ("rankct · raw data quality",
                     "Data gate 1: a summary of each day's raw partitions."),
    "training_data": ("rankct · training data",
                      "Data gate 2: drift of each training set against the champion's."),
    "ranking_quality": ("rankct · ranking quality",
                        "Challenger and champion side by side on the same held-out requests."),
    "monitoring": ("rankct · monitoring",
                   "Daily drift of served features and of batch scores."),
}


@dataclass(frozen=True)
class PublishedReport:
    """Where a snapshot sits in the workspace and the Evidently UI address that shows it."""

    project_id: str
    snapshot_id: str
    url: str


def workspace_dir(config: RankctConfig) -> Path:
    return config.home / "evidently"


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".rankct.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _project_id(workspace, kind: str) -> str:
    name, description = PROJECTS[kind]
    for project in workspace.search_project(name):
        if project.name == name:
            return str(project.id)
    return str(workspace.create_project(name, description=description).id)


def add_report(config: RankctConfig, snapshot_path: Path | str, kind: str,
               name: str | None = None) -> PublishedReport:
    """Add the snapshot at ``snapshot_path`` (``<report>.snapshot.json``) to the ``kind``
    project, replacing the one published earlier from the same path."""
    from evidently.core.report import Snapshot
    from evidently.ui.workspace import Workspace

    if kind not in PROJECTS:
        raise ValueError(f"unknown report kind {kind!r}; expected one of {sorted(PROJECTS)}")
    root = workspace_dir(config)
    snapshot_path = Path(snapshot_path).resolve()
    key = hashlib.sha256(str(snapshot_path).encode()).hexdigest()[:24]
    index = root / "rankct_index" / f"{key}.json"
    with _locked(root):
        workspace = Workspace(str(root))
        project_id = _project_id(workspace, kind)
        if index.exists():
            earlier = json.loads(index.read_text())
            if workspace.get_run(earlier["project_id"], earlier["snapshot_id"]) is not None:
                workspace.delete_run(earlier["project_id"], earlier["snapshot_id"])
        snapshot = Snapshot.load(str(snapshot_path))
        ref = workspace.add_run(project_id, snapshot, name=name)
        published = PublishedReport(project_id, str(ref.id), report_url(config, project_id,
                                                                         str(ref.id)))
        write_json_atomic(index, {"project_id": project_id, "snapshot_id": str(ref.id),
                                  "source": str(snapshot_path), "url": published.url})
    return published


def report_url(config: RankctConfig, project_id: str, snapshot_id: str) -> str:
    """The Evidently UI page of one snapshot."""
    return f"{config.ui.evidently_url.rstrip('/')}/projects/{project_id}/reports/{snapshot_id}"
