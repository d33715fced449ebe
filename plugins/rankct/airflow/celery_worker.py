"""The Celery workers' configuration on the production profile: Airflow's own, plus the heavy
libraries rankct's stages use, imported once by each worker before it forks its pool.

A Celery worker runs each task in a process forked from a pool process, itself forked from the
worker: whatever the worker imported first costs a task nothing, and whatever it did not,
every task imports again. On two cores Feast and Evidently take 5 to 10 s each to import,
MLflow and XGBoost 3 to 4 s: most of the time a small day's tasks spent on a Celery worker
beyond what they spend under ``airflow dags test`` (one process for every task). Airflow
preloads its own operators the same way, on the same signal.

The stack points ``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS`` here (:mod:`rankct.stack.services`).
The scheduler imports this module too, to build its Celery client, which never sends the
signal: only workers pay for the imports.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import import_modules

# Imports only: none of these opens a connection or starts a Python thread; the native pools
# some start (OpenBLAS, jemalloc's background thread) re-create themselves in a forked child.
# onnxruntime and the export stage's other libraries take under a second; they are left out.
PRELOADED = (
    "pyspark.sql.connect.session",
    "mlflow",
    "xgboost",
    "feast",
    "evidently",
    "evidently.presets",
    "rankct.pipeline.prepare",
    "rankct.pipeline.challenger",
    "rankct.pipeline.evaluate",
    "rankct.pipeline.decide",
)

CELERY_CONFIG: dict[str, Any] = dict(DEFAULT_CELERY_CONFIG)

log = logging.getLogger(__name__)


@import_modules.connect
def preload_stage_libraries(*args: Any, **kwargs: Any) -> None:
    """Import :data:`PRELOADED` in the worker, before its pool forks. A module that fails to
    import is only logged: the task that needs it fails with the real error."""
    for module in PRELOADED:
        try:
            importlib.import_module(module)
        except Exception:  # the task importing it reports the error itself
            log.exception("rankct could not preload %s in the Celery worker", module)
