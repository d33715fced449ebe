"""Where the production stack runs: its folder, ports, databases, executor and host names.

One :class:`StackSettings` drives both ways of running the stack: ``rankct stack up`` on this
machine (everything on 127.0.0.1, this machine's PostgreSQL and Redis) and docker-compose.yaml,
whose services call ``rankct stack run SERVICE`` with the host names Compose gives (set through
the ``RANKCT_STACK_*`` variables below). Secrets never live here: :mod:`rankct.stack.secrets`.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from rankct.config import RankctConfig
from rankct.errors import ConfigError

Executor = Literal["local", "celery"]
Broker = Literal["redis", "rabbitmq"]

# Fixed defaults, each overridable by RANKCT_STACK_<NAME>_PORT (tests and a second stack on
# the same machine pick free ones with `rankct stack up --free-ports`).
DEFAULT_PORTS = {
    "airflow": 8080, "mlflow": 5000, "evidently": 8000,
    "spark": 7077, "spark_ui": 8081, "spark_worker_ui": 8082,  # worker i gets 8082 + i
    "spark_connect": 15002, "spark_connect_ui": 4040,
    "scheduler_logs": 8793, "triggerer_logs": 8794, "worker_logs": 8795,  # celery worker i: +i
}


def free_port() -> int:
    """A TCP port nobody listens on at this moment (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class StackSettings:
    """Everything a service's command line and environment are built from."""

    home: Path  # the stack's own folder: state file, logs, secrets, artifacts, work dirs
    rankct_home: Path  # RANKCT_HOME of the tasks (data, features, reports)
    bind: str = "127.0.0.1"  # address the servers listen on
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    executor: Executor = "local"
    broker: Broker = "redis"
    spark_workers: int = 2
    # Cores a worker offers. On one machine they are more than its CPUs: the Connect server
    # holds half of the cluster's for as long as it runs, and batch scoring (an application of
    # its own) needs the other half.
    spark_worker_cores: int = 2
    spark_worker_memory: str = "2g"
    spark_connect_cores: int = 0  # the Connect server's share of the cluster; 0: half of it
    spark_connect_memory: str = "2g"  # its driver: collected results (a training set) pass it
    celery_workers: int = 2
    celery_concurrency: int = 2
    # Dependencies: this machine's services for `stack up`, service names under Compose.
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_user: str = "rankct"  # owner of the two databases (trust auth on this machine)
    airflow_db: str = "rankct_airflow"
    mlflow_db: str = "rankct_mlflow"
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    feast_redis_db: int = 3  # Feast's online store: a database index of its own
    broker_redis_db: int = 4  # Celery's broker (never db 0, which other programs use)
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    # Host names clients use to reach each server (Compose: the service names).
    spark_host: str = "127.0.0.1"
    spark_connect_host: str = "127.0.0.1"
    airflow_host: str = "127.0.0.1"
    mlflow_host: str = "127.0.0.1"

    @property
    def spark_master_url(self) -> str:
        return f"spark://{self.spark_host}:{self.ports['spark']}"

    @property
    def spark_connect_url(self) -> str:
        """The Connect server every task and job attaches to (``spark.remote``)."""
        return f"sc://{self.spark_connect_host}:{self.ports['spark_connect']}"

    @property
    def spark_cores(self) -> int:
        """Cores the cluster's workers offer together."""
        return self.spark_workers * self.spark_worker_cores

    @property
    def connect_cores(self) -> int:
        """Cores the Connect server's executors hold: its setting, else half the cluster's."""
        return self.spark_connect_cores or max(1, self.spark_cores // 2)

    @property
    def spark_shuffle_partitions(self) -> int:
        """Two per core the Connect server holds: the stack's tasks' and server's setting."""
        return 2 * self.connect_cores

    @property
    def airflow_url(self) -> str:
        return f"http://{self.airflow_host}:{self.ports['airflow']}"

    @property
    def mlflow_url(self) -> str:
        return f"http://{self.mlflow_host}:{self.ports['mlflow']}"

    @property
    def evidently_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['evidently']}"

    def database_url(self, database: str, password: str | None = None,
                     driver: str = "postgresql+psycopg2") -> str:
        """SQLAlchemy URL of one of the stack's databases (psycopg2: the installed driver)."""
        login = self.postgres_user + (f":{password}" if password else "")
        return f"{driver}://{login}@{self.postgres_host}:{self.postgres_port}/{database}"

    def redis_url(self, db: int) -> str:
        return f"redis://{self.redis_host}:{self.redis_port}/{db}"

    @property
    def feast_redis(self) -> str:
        """Feast's connection string (host:port,db=N): what RANKCT_REDIS holds."""
        return f"{self.redis_host}:{self.redis_port},db={self.feast_redis_db}"

    @property
    def broker_url(self) -> str:
        return self.redis_url(self.broker_redis_db) if self.broker == "redis" \
            else self.rabbitmq_url

    def port(self, name: str, index: int = 1) -> int:
        """Port ``name`` of the ``index``-th instance (workers): its own key when
        :meth:`with_free_ports` gave it one, else the base port + index - 1."""
        return self.ports.get(f"{name}_{index}", self.ports[name] + index - 1)

    def with_free_ports(self) -> StackSettings:
        """A copy whose every port, each worker's included, is one nobody listens on now."""
        ports = {name: free_port() for name in self.ports}
        for i in range(1, self.spark_workers + 1):
            ports[f"spark_worker_ui_{i}"] = free_port()
        for i in range(1, self.celery_workers + 1):
            ports[f"worker_logs_{i}"] = free_port()
        return replace(self, ports=ports)


def _int(environ: dict[str, str], key: str, default: int) -> int:
    raw = environ.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a whole number") from None


def stack_home(config: RankctConfig, environ: dict[str, str] | None = None) -> Path:
    """The stack's folder: ``RANKCT_STACK_HOME`` or ``<RANKCT_HOME>/stack``."""
    environ = dict(os.environ if environ is None else environ)
    return Path(environ.get("RANKCT_STACK_HOME") or config.home / "stack").resolve()


def load_settings(config: RankctConfig, environ: dict[str, str] | None = None, *,
                  executor: str | None = None, broker: str | None = None) -> StackSettings:
    """The stack's settings from ``RANKCT_STACK_*`` variables over the defaults above."""
    environ = dict(os.environ if environ is None else environ)
    executor = executor or environ.get("RANKCT_STACK_EXECUTOR", "local")
    broker = broker or environ.get("RANKCT_STACK_BROKER", "redis")
    if executor not in ("local", "celery"):
        raise ConfigError(f"unknown executor {executor!r}", hint="use local or celery")
    if broker not in ("redis", "rabbitmq"):
        raise ConfigError(f"unknown Celery broker {broker!r}", hint="use redis or rabbitmq")
    ports = {name: _int(environ, f"RANKCT_STACK_{name.upper()}_PORT", port)
             for name, port in DEFAULT_PORTS.items()}
    suffix = environ.get("RANKCT_STACK_DB_SUFFIX", "")
    settings = StackSettings(
        home=stack_home(config, environ), rankct_home=Path(config.home).resolve(),
        bind=environ.get("RANKCT_STACK_BIND", "127.0.0.1"), ports=ports,
        executor=executor, broker=broker,  # type: ignore[arg-type] - checked above
        spark_workers=_int(environ, "RANKCT_STACK_SPARK_WORKERS", 2),
        spark_worker_cores=_int(environ, "RANKCT_STACK_SPARK_WORKER_CORES", 2),
        spark_worker_memory=environ.get("RANKCT_STACK_SPARK_WORKER_MEMORY", "2g"),
        spark_connect_cores=_int(environ, "RANKCT_STACK_SPARK_CONNECT_CORES", 0),
        spark_connect_memory=environ.get("RANKCT_STACK_SPARK_CONNECT_MEMORY", "2g"),
        celery_workers=_int(environ, "RANKCT_STACK_CELERY_WORKERS", 2),
        celery_concurrency=_int(environ, "RANKCT_STACK_CELERY_CONCURRENCY", 2),
        postgres_host=environ.get("RANKCT_STACK_POSTGRES_HOST", "127.0.0.1"),
        postgres_port=_int(environ, "RANKCT_STACK_POSTGRES_PORT", 5432),
        postgres_user=environ.get("RANKCT_STACK_POSTGRES_USER", "rankct"),
        airflow_db=f"rankct_airflow{suffix}", mlflow_db=f"rankct_mlflow{suffix}",
        redis_host=environ.get("RANKCT_STACK_REDIS_HOST", "127.0.0.1"),
        redis_port=_int(environ, "RANKCT_STACK_REDIS_PORT", 6379),
        feast_redis_db=_int(environ, "RANKCT_STACK_FEAST_REDIS_DB", 3),
        broker_redis_db=_int(environ, "RANKCT_STACK_BROKER_REDIS_DB", 4),
        rabbitmq_url=environ.get("RANKCT_STACK_RABBITMQ_URL",
                                 "amqp://guest:guest@127.0.0.1:5672//"),
        spark_host=environ.get("RANKCT_STACK_SPARK_HOST", "127.0.0.1"),
        spark_connect_host=environ.get("RANKCT_STACK_SPARK_CONNECT_HOST", "127.0.0.1"),
        airflow_host=environ.get("RANKCT_STACK_AIRFLOW_HOST", "127.0.0.1"),
        mlflow_host=environ.get("RANKCT_STACK_MLFLOW_HOST", "127.0.0.1"),
    )
    if settings.connect_cores >= settings.spark_cores:
        raise ConfigError(f"the Spark Connect server would hold all {settings.spark_cores} cores "
                          "of the cluster, and batch scoring (an application of its own) would "
                          "wait for ever", hint="lower RANKCT_STACK_SPARK_CONNECT_CORES, or give "
                          "the workers more (RANKCT_STACK_SPARK_WORKER_CORES)")
    if settings.broker_redis_db == 0 or settings.feast_redis_db == 0:
        raise ConfigError("the stack's Redis databases must not be index 0",
                          hint="db 0 is every other program's default; pick 1-15")
    return settings
