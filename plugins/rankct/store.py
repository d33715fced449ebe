"""Access to the Feast feature store of the active profile (``feature_repo/``)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from rankct.config import REPO_ROOT, RankctConfig
from rankct.errors import RankctError

if TYPE_CHECKING:
    from feast import FeatureStore

    from rankct.materialize import MaterializeStats

FEATURE_REPO = REPO_ROOT / "feature_repo"


def store_yaml(config: RankctConfig) -> Path:
    """The profile's ``feature_store.yaml`` (``feature_store.<profile>.yaml`` beyond local)."""
    name = "feature_store.yaml" if config.profile == "local" else f"feature_store.{config.profile}.yaml"
    path = FEATURE_REPO / name
    if not path.exists():
        raise RankctError(f"no Feast configuration {path} for profile {config.profile!r}")
    return path


def _environment(config: RankctConfig) -> dict[str, str]:
    # feature_store.yaml and the data sources read RANKCT_HOME: point them at this config's state.
    (config.home / "feast").mkdir(parents=True, exist_ok=True)
    return {**os.environ, "RANKCT_HOME": str(config.home)}


def feast_cli(config: RankctConfig, *args: str) -> str:
    """Run the ``feast`` command line (plan, apply, ...) on the repo; returns its output."""
    proc = subprocess.run(
        [sys.executable, "-m", "feast.cli.cli", "-f", str(store_yaml(config)), *args],
        cwd=FEATURE_REPO, env=_environment(config), check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RankctError(f"feast {' '.join(args)} failed:\n{proc.stderr[-2000:]}",
                          hint="check feature_repo/ definitions and the feature tables")
    return proc.stdout


def feature_store(config: RankctConfig) -> FeatureStore:
    """The FeatureStore of ``config``'s profile and state folder."""
    from feast import FeatureStore

    os.environ.update({"RANKCT_HOME": str(_environment(config)["RANKCT_HOME"])})
    return FeatureStore(repo_path=str(FEATURE_REPO), fs_yaml_file=store_yaml(config))


BATCH_VIEWS = ["item_features", "user_features", "user_category_affinity", "user_brand_affinity"]


def materialize_day(config: RankctConfig, day: date, views: list[str] | None = None,
                    stock: bool = False) -> list[MaterializeStats]:
    """Load the feature rows of ``day`` (stamped at its end) into the online store.

    Incremental: only that day's partition is read; idempotent: a re-run writes the same bytes
    under the same keys, and a replayed older day never overwrites a newer value. By default the
    bulk writer of :mod:`rankct.materialize` does the work; ``stock`` runs Feast's own
    ``materialize`` instead (any online store, about 10x slower).
    """
    from rankct.materialize import MaterializeStats, bulk_materialize_day

    views = views or BATCH_VIEWS
    if not stock:
        return bulk_materialize_day(config, day, views)
    import time
    from datetime import timedelta

    from rankct.features.build import as_of

    store, cutoff = feature_store(config), as_of(day)
    stats = []
    for name in views:
        started = time.perf_counter()
        store.materialize(start_date=cutoff - timedelta(hours=12),
                          end_date=cutoff + timedelta(hours=12), feature_views=[name])
        rows = _partition_rows(config, name, day)
        stats.append(MaterializeStats(name, rows, time.perf_counter() - started))
    return stats


def _partition_rows(config: RankctConfig, view: str, day: date) -> int:
    import pyarrow.parquet as pq

    from rankct.features.build import FeaturePaths

    path = FeaturePaths(config.data_root).table(view, day)
    return sum(pq.ParquetFile(f).metadata.num_rows for f in path.glob("*.parquet"))
