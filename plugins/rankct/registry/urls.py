"""Addresses of runs, versions and artifacts in the MLflow UI, for Airflow's task links and for
the summaries people read. Built from ``ui.mlflow_url``; nothing here talks to a server."""

from __future__ import annotations

from urllib.parse import quote

from rankct.config import RankctConfig
from rankct.registry.store import Store


def _base(config: RankctConfig) -> str:
    return config.ui.mlflow_url.rstrip("/")


def run_url(config: RankctConfig, store: Store, run_id: str) -> str:
    """The run's page (params, metrics, artifacts)."""
    experiment = store.client.get_run(run_id).info.experiment_id
    return f"{_base(config)}/#/experiments/{experiment}/runs/{run_id}"


def artifact_url(config: RankctConfig, store: Store, run_id: str, path: str) -> str:
    """The run's artifact browser opened at ``path`` (e.g. the gate's decision record)."""
    return f"{run_url(config, store, run_id)}/artifacts/{quote(path)}"


def version_url(config: RankctConfig, model_name: str, version: str) -> str:
    """A registered version's page (aliases, tags, source run)."""
    return f"{_base(config)}/#/models/{quote(model_name)}/versions/{version}"


def version_run_id(store: Store, version: str) -> str:
    """The run that produced ``version``."""
    return store.client.get_model_version(store.model_name, str(version)).run_id
