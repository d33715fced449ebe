"""The MLflow tracking store and model registry of a configuration, and rankct's tag names.

URIs are set explicitly on every client: nothing here depends on ``MLFLOW_TRACKING_URI`` or on a
global set by some other code. The one MLflow call that needs the global ("fluent") state,
logging a model, runs inside :meth:`Store.activated`, which restores the previous values after.

Every client call but the ``create_*`` ones (which are not idempotent) is retried when the store
does not answer (a locked SQLite, a database restarting, a 503); after the last attempt it
raises :class:`rankct.errors.ServiceUnavailable`, which Airflow retries again later. A store
that answers "no" (a missing version, a bad URI) is never retried.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rankct.config import RankctConfig
from rankct.errors import RankctError
from rankct.retry import RetryPolicy, with_retries

# Tags of every registered version (DESIGN.md, "Model registry conventions").
TAG_DATA_INTERVAL = "data_interval"
TAG_DATASET_FINGERPRINT = "dataset_fingerprint"
TAG_FEATURE_SERVICE = "feature_service"
TAG_GIT_COMMIT = "git_commit"
TAG_AIRFLOW_RUN_ID = "airflow_run_id"
TAG_GATE_DECISION = "gate_decision"  # pending (just trained), passed or rejected
TAG_GATE_REASONS = "gate_reasons"
TAG_ONNX_SHA256 = "onnx_sha256"  # set by the export once the ONNX file exists
TAG_ONNX_MODEL_URI = "onnx_model_uri"  # the ONNX model logged with the bundle (models:/...)
TAG_PREVIOUS_CHAMPION = "previous_champion"  # on a promoted version: the version it replaced
TAG_ROLLED_BACK = "rolled_back"  # on a champion that a rollback removed: never promoted again
TAG_DECISION_SHA256 = "decision_sha256"  # digest of the gate's decision record, set by the gate
TAG_RUN_OVERRIDES = "run_overrides"  # the per-run settings (DAG params) the version trained with
PENDING, PASSED, REJECTED = "pending", "passed", "rejected"

ALIAS_CHAMPION = "champion"
ALIAS_CHALLENGER = "challenger"
ALIAS_PREVIOUS = "previous_champion"

_ENV_REF = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


class RetryingClient:
    """An ``MlflowClient`` whose calls retry while the store does not answer.

    ``create_*`` calls run once: a retry after a reply that got lost would create a second run
    or version. Airflow's task retry covers those.
    """

    def __init__(self, client: Any, policy: RetryPolicy, where: str) -> None:
        self._client, self._policy, self._where = client, policy, where

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name.startswith("create_") or not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            return with_retries(lambda: method(*args, **kwargs), policy=self._policy,
                                what=f"MLflow {name} on {self._where}",
                                hint="check that the MLflow database or server is up; the "
                                     "registry was not changed by this call")
        return call


@dataclass(frozen=True)
class Store:
    """An open tracking store and registry, with the experiment and model rankct uses.

    ``state_dir`` (``<home>/registry/<model>``) holds what rankct keeps beside MLflow: the
    alias lock of a store without database locks and the history of alias changes.
    """

    tracking_uri: str
    registry_uri: str
    artifact_root: str
    experiment: str
    model_name: str
    client: Any  # RetryingClient around an mlflow.MlflowClient bound to the two URIs
    state_dir: Path
    lock_timeout_seconds: float = 60.0

    @contextmanager
    def activated(self) -> Iterator[None]:
        """Point MLflow's global state at this store for the duration, then restore it."""
        import mlflow

        saved = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        previous_tracking = mlflow.get_tracking_uri() if saved["MLFLOW_TRACKING_URI"] else None
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)
        try:
            yield
        finally:
            # set_*_uri also export environment variables; put back exactly what was there.
            mlflow.set_tracking_uri(previous_tracking)
            mlflow.set_registry_uri(saved["MLFLOW_REGISTRY_URI"])
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def experiment_id(self) -> str:
        """The id of the rankct experiment, created with the configured artifact root if new."""
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        return self.client.create_experiment(self.experiment,
                                             artifact_location=self.artifact_root or None)


def expand_env(value: str, environ: dict[str, str] | None = None) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` by the environment's values."""
    env = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is None:
            raise RankctError(f"environment variable {name} is not set (used in the MLflow "
                              "configuration)", hint=f"export {name}=... or give a default")
        return default

    return _ENV_REF.sub(replace, value)


def redact(uri: str) -> str:
    """The URI with any password replaced, for messages and logs."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", uri)


def resolve_uris(config: RankctConfig) -> tuple[str, str, str]:
    """(tracking URI, registry URI, artifact root) of ``config``; local defaults under home.
    The artifact root is empty for a tracking server with no root configured: the server's."""
    settings = config.mlflow
    home = Path(config.home).resolve() / "mlflow"
    tracking = expand_env(settings.tracking_uri or "") or f"sqlite:///{home / 'mlflow.db'}"
    registry = expand_env(settings.registry_uri or "") or tracking
    artifacts = expand_env(settings.artifact_root or "")
    if not artifacts and tracking.startswith(("http://", "https://")):
        # A tracking server that serves artifacts (--serve-artifacts) chooses their place
        # (mlflow-artifacts:/...): clients upload through it and need no shared volume.
        return tracking, registry, ""
    artifacts = artifacts or (home / "artifacts").as_uri()
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", artifacts):  # a plain path: MLflow wants a URI
        artifacts = Path(artifacts).resolve().as_uri()
    return tracking, registry, artifacts


def open_store(config: RankctConfig) -> Store:
    """Open (and on first use create) the tracking store and registry of ``config``.

    A store that does not answer is retried (``mlflow.retry_attempts``), then reported as
    :class:`ServiceUnavailable`; one that cannot work (a bad URI, a missing driver) as a
    :class:`RankctError` at once.
    """
    from mlflow import MlflowClient

    settings = config.mlflow
    tracking, registry, artifacts = resolve_uris(config)
    if artifacts.startswith("gs://") and config.gcp.storage_endpoint:
        # MLflow's gs:// artifact repository builds its own Cloud Storage client, which takes
        # another endpoint (anonymous) from this variable only.
        os.environ.setdefault("STORAGE_EMULATOR_HOST", config.gcp.storage_endpoint)
    for uri in (tracking, registry):
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    policy = RetryPolicy(settings.retry_attempts, settings.retry_backoff_seconds)

    def connect() -> Any:
        _probe(tracking)
        # Connects and, on a new database, creates MLflow's tables.
        client = MlflowClient(tracking_uri=tracking, registry_uri=registry)
        client.search_registered_models(max_results=1)
        return client

    try:
        client = with_retries(connect, what=f"opening the MLflow store {redact(tracking)}",
                              policy=policy, hint="check that the MLflow database or server "
                                                  "is up (mlflow.tracking_uri)")
    except RankctError:
        raise
    except Exception as exc:  # MLflow wraps driver errors in several types
        raise RankctError(f"MLflow store {redact(tracking)} is unusable: {exc}",
                          hint="check mlflow.tracking_uri (RANKCT__MLFLOW__TRACKING_URI); for "
                               "PostgreSQL use postgresql+psycopg2://, the installed "
                               "driver") from exc
    return Store(tracking_uri=tracking, registry_uri=registry, artifact_root=artifacts,
                 experiment=settings.experiment, model_name=settings.registered_model,
                 client=RetryingClient(client, policy, redact(tracking)),
                 state_dir=Path(config.home) / "registry" / settings.registered_model,
                 lock_timeout_seconds=settings.lock_timeout_seconds)


def _probe(uri: str) -> None:
    """One plain connection to a database server: MLflow retries a refused one for minutes."""
    if not uri.startswith(("postgresql", "mysql", "mssql")):
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
    try:
        engine.connect().close()
    finally:
        engine.dispose()
