"""The Feast repository of the active profile (``feature_repo/``): its store file, the ``feast``
command line and the FeatureStore, each pointed at one configuration's state folder.

``feature_store.yaml`` names ``${RANKCT_HOME}`` (the registry, the SQLite online store) and,
in production, other variables of the environment. Both the ``feast`` subprocess and the
in-process FeatureStore see this process's environment with ``RANKCT_HOME`` set to the
configuration's home; the process's own ``os.environ`` is left as it is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rankct.config import REPO_ROOT, RankctConfig
from rankct.errors import RankctError, ServiceUnavailable

if TYPE_CHECKING:
    from feast import FeatureStore

FEATURE_REPO = REPO_ROOT / "feature_repo"
# Feature views serve values up to this many days old (feature_repo/feature_views.py TTL).
FEATURE_TTL_DAYS = 3
# What the feast process prints when a store did not answer (an outage, retried), as opposed to
# a definition or data error (not retried).
_UNREACHABLE = ("redis.exceptions.ConnectionError", "redis.exceptions.TimeoutError",
                "Connection refused", "could not connect to server")
# ``$NAME`` and ``${NAME}``, as os.path.expandvars (what Feast applies to the file) reads them.
_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})", re.ASCII)


def store_yaml(config: RankctConfig) -> Path:
    """The profile's ``feature_store.yaml`` (``feature_store.<profile>.yaml`` beyond local)."""
    name = "feature_store.yaml" if config.profile == "local" else f"feature_store.{config.profile}.yaml"
    path = FEATURE_REPO / name
    if not path.exists():
        raise RankctError(f"no Feast configuration {path} for profile {config.profile!r}")
    return path


def definitions_fingerprint(config: RankctConfig) -> str:
    """sha256 of the feature definitions (``feature_repo/*.py``) and the profile's store file:
    what ``feast apply`` registers, and what every joined training row depends on."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(FEATURE_REPO.glob("*.py")) + [store_yaml(config)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _environment(config: RankctConfig) -> dict[str, str]:
    # feature_store.yaml and the data sources read RANKCT_HOME: point them at this config's state.
    (config.home / "feast").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RANKCT_HOME": str(config.home)}
    # Feast opens its Spark session itself: on the run's server when there is one, else a JVM
    # of the profile's master without a UI (PySpark passes these to its spark-submit).
    if config.spark.remote:
        env["SPARK_REMOTE"] = config.spark.remote
    else:
        env.setdefault("PYSPARK_SUBMIT_ARGS", f"--master {config.spark.master} "
                                              "--conf spark.ui.enabled=false pyspark-shell")
    return env


def feast_cli(config: RankctConfig, *args: str) -> str:
    """Run the ``feast`` command line (plan, apply, ...) on the repo; returns its output."""
    proc = subprocess.run(
        [sys.executable, "-m", "feast.cli.cli", "-f", str(store_yaml(config)), *args],
        cwd=FEATURE_REPO, env=_environment(config), check=False, capture_output=True,
        text=True)
    if proc.returncode != 0:
        tail = proc.stderr[-2000:]
        if any(marker in tail for marker in _UNREACHABLE):
            raise ServiceUnavailable(f"feast {' '.join(args)} could not reach a store:\n{tail}",
                                     hint="check that the online store (RANKCT_REDIS) and the "
                                          "registry are up; the task can simply run again")
        raise RankctError(f"feast {' '.join(args)} failed:\n{tail}",
                          hint="check feature_repo/ definitions and the feature tables")
    return proc.stdout


def _expand(text: str, environment: dict[str, str]) -> str:
    """``os.path.expandvars`` over ``environment``: unknown variables are left as written."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("{") and name.endswith("}"):
            name = name[1:-1]
        return environment.get(name, match.group(0))
    return _VARIABLE.sub(value, text)


def store_settings(config: RankctConfig) -> dict[str, Any]:
    """The profile's feature_store.yaml as Feast reads it, its variables expanded from this
    process's environment with ``RANKCT_HOME`` set to ``config.home``."""
    path = store_yaml(config)
    return yaml.safe_load(_expand(path.read_text(), _environment(config)))


def feature_store(config: RankctConfig) -> FeatureStore:
    """The FeatureStore of ``config``'s profile and state folder."""
    from feast import FeatureStore
    from feast.repo_config import FeastConfigError, RepoConfig
    from pydantic import ValidationError

    # Feast's own loader (FeatureStore(fs_yaml_file=...)) expands the file from os.environ:
    # loading it here gives the same RepoConfig without changing this process's environment.
    try:
        repo_config = RepoConfig(**store_settings(config))
    except ValidationError as error:
        raise FeastConfigError(error, store_yaml(config)) from error
    repo_config.repo_path = FEATURE_REPO
    return FeatureStore(repo_path=str(FEATURE_REPO), config=repo_config)
