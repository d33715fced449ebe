"""The MLflow model registry of rankct: training runs, registered versions, champion/challenger.

``store`` opens the tracking store and registry of a configuration; ``runs`` logs a training run
and registers its model as the challenger; ``aliases`` promotes, rejects and rolls back. They
import mlflow inside their functions, so importing this package is cheap.
"""

from rankct.registry.aliases import (
    alias_version,
    champion_version,
    list_versions,
    load_booster,
    promote,
    record_decision,
    reject,
    rollback,
    set_version_tags,
)
from rankct.registry.runs import (
    RegisteredVersion,
    load_training_sample,
    log_files,
    log_training_run,
    version_reports_dir,
)
from rankct.registry.store import Store, open_store

__all__ = [
    "RegisteredVersion", "Store", "alias_version", "champion_version", "list_versions", "load_booster",
    "load_training_sample", "log_files", "log_training_run", "open_store", "promote", "record_decision",
    "reject", "rollback", "set_version_tags", "version_reports_dir",
]
