"""The deploy workflow's own steps, run here as GitHub Actions would run them: each step's
``run`` script under bash, in a folder that stands for the workflow's checkout (``plugins/`` of
this repository), with the environment its ``env:`` block would give it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "deploy-model.yml"


def load_workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def step(workflow: dict, name: str) -> dict:
    """The step whose name starts with ``name``."""
    steps = workflow["jobs"]["deploy"]["steps"]
    return next(s for s in steps if s.get("name", "").startswith(name))


def checkout(folder: Path) -> Path:
    """A folder laid out like the workflow's checkout of this repository."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "plugins").exists():
        (folder / "plugins").symlink_to(ROOT / "plugins")
    (folder / "runner_temp").mkdir(exist_ok=True)
    return folder


def run_step(workflow: dict, name: str, env: dict[str, str],
             cwd: Path) -> subprocess.CompletedProcess:
    """Run the step ``name`` with ``env`` (what its ``${{ }}`` expressions would give) on a
    PATH where ``python3`` and ``mlflow`` are this environment's, as setup-python and the
    install step would make them."""
    found = step(workflow, name)
    assert found.get("shell") == "bash", f"step {name!r} does not say shell: bash"
    assert "${{" not in found["run"], f"step {name!r} pastes an expression into its script"
    base = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", str(cwd)), "RUNNER_TEMP": str(cwd / "runner_temp"),
            "GITHUB_OUTPUT": str(cwd / "github_output")}
    return subprocess.run(["bash", "-c", found["run"]], env={**base, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def outputs(cwd: Path) -> dict[str, str]:
    """The step outputs written to ``$GITHUB_OUTPUT``."""
    path = cwd / "github_output"
    return dict(line.split("=", 1) for line in path.read_text().splitlines()) \
        if path.exists() else {}
