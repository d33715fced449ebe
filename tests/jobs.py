"""Load a spark-submit entry point from jobs/ as a module, the way spark-submit runs the file."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

JOBS = Path(__file__).resolve().parents[1] / "jobs"


def load_job(name: str) -> ModuleType:
    """``jobs/<name>.py`` as a module (jobs/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_job", JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
