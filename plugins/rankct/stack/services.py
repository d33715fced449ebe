"""The services of the production stack: each one's command line, environment, URL and health
check, built from :class:`StackSettings` and the secrets. ``rankct stack up`` starts these
argvs on this machine; docker-compose.yaml runs the same ones (``rankct stack run SERVICE``),
so there is one definition of every server's command line.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rankct.config import REPO_ROOT, SparkConfig
from rankct.stack.settings import StackSettings


@dataclass(frozen=True)
class Health:
    """How to tell that a service works.

    ``kind``: ``http`` (``target`` answers one of ``ok``), ``airflow`` (the API server's health
    endpoint reports component ``target`` healthy), ``spark-worker`` (the master lists a worker
    with web UI port ``target`` as ALIVE), ``log`` (the log holds ``target``: Celery's
    "ready"), ``tcp`` (``target``, host:port, accepts connections: the Connect server's gRPC).
    """

    kind: str
    target: str
    ok: tuple[int, ...] = (200,)


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]  # on top of the stack's common environment
    health: Health
    url: str = ""  # what a person opens; empty for a server without one
    needs: tuple[str, ...] = field(default_factory=tuple)  # healthy before this one starts


def _bin(name: str) -> str:
    """A program of this environment (pyspark's spark-class, airflow, mlflow, evidently)."""
    return str(Path(sys.executable).parent / name)


def spark_home() -> str:
    """SPARK_HOME of the installed pyspark: its package folder holds jars/ and bin/."""
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyspark is not installed in this environment (make setup)")
    return str(Path(spec.origin).parent)


def client_environment(settings: StackSettings, secrets: dict[str, str]) -> dict[str, str]:
    """What a client of the stack needs (``rankct stack env`` prints it): the prod profile,
    MLflow over HTTP with its login, the Spark Connect server and the master, Feast's Redis
    and the UIs' URLs."""
    return {
        "RANKCT_PROFILE": "prod",
        "RANKCT_HOME": str(settings.rankct_home),
        "MLFLOW_TRACKING_URI": settings.mlflow_url,
        "MLFLOW_TRACKING_USERNAME": secrets["mlflow_admin_user"],
        "MLFLOW_TRACKING_PASSWORD": secrets["mlflow_admin_password"],
        # Every task and job attaches to the stack's Connect server (no driver JVM and no
        # executors of its own to start); batch scoring alone runs an application on the master.
        "RANKCT__SPARK__REMOTE": settings.spark_connect_url,
        "RANKCT__SPARK__MASTER": settings.spark_master_url,
        "RANKCT__SPARK__DRIVER_MEMORY": "1g",  # executors do the work on the workers
        # Two shuffle partitions per core the server holds, not the profile's 64 (sized for a
        # real cluster): on one machine's workers, most of a small day's time went to tasks.
        "RANKCT__SPARK__SHUFFLE_PARTITIONS": str(settings.spark_shuffle_partitions),
        "RANKCT_REDIS": settings.feast_redis,
        "RANKCT__UI__AIRFLOW_URL": settings.airflow_url,
        "RANKCT__UI__MLFLOW_URL": settings.mlflow_url,
        "RANKCT__UI__EVIDENTLY_URL": settings.evidently_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": settings.database_url(settings.airflow_db),
    }


def airflow_overrides(settings: StackSettings, secrets: dict[str, str]) -> dict[str, str]:
    """Airflow's settings on the stack, over those of :func:`airflow_environment`: PostgreSQL
    metadata, a real executor, one secret for the tokens every component signs and checks."""
    home = settings.home / "airflow"
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if settings.executor == "celery"
                                   else "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",  # a 2-core machine: a few tasks at a time
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.airflow_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets["airflow_jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": secrets["airflow_secret_key"],
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.ports["scheduler_logs"]),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.ports["triggerer_logs"]),
        "AIRFLOW_CONN_RANKCT_SPARK": json.dumps({
            "conn_type": "spark", "host": f"spark://{settings.spark_host}",
            "port": settings.ports["spark"]}),
    }
    if settings.executor == "celery":
        env["AIRFLOW__CELERY__BROKER_URL"] = settings.broker_url
        # Airflow's Celery settings, with the stages' libraries imported once per worker.
        env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] = "rankct.airflow.celery_worker.CELERY_CONFIG"
        # psycopg2 named: SQLAlchemy 2.1 would pick psycopg 3 (not installed) for postgresql.
        env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + settings.database_url(
            settings.airflow_db)
    return env


def _spark(settings: StackSettings) -> list[Service]:
    ui = settings.ports["spark_ui"]
    master = Service(
        "spark-master",
        [_bin("spark-class"), "org.apache.spark.deploy.master.Master",
         "--host", settings.spark_host, "--port", str(settings.ports["spark"]),
         "--webui-port", str(ui)],
        {}, Health("http", f"http://127.0.0.1:{ui}/json/"), url=f"http://127.0.0.1:{ui}")
    workers = []
    for i in range(1, settings.spark_workers + 1):
        port = settings.port("spark_worker_ui", i)
        argv = [_bin("spark-class"), "org.apache.spark.deploy.worker.Worker",
                settings.spark_master_url, "--cores", str(settings.spark_worker_cores),
                "--memory", settings.spark_worker_memory, "--webui-port", str(port),
                "--work-dir", str(settings.home / "spark" / f"worker-{i}")]
        if settings.bind == "127.0.0.1":
            argv += ["--host", "127.0.0.1"]
        workers.append(Service(f"spark-worker-{i}", argv, {},
                               Health("spark-worker", str(port)),
                               url=f"http://127.0.0.1:{port}", needs=("spark-master",)))
    return [master, *workers]


def _spark_connect(settings: StackSettings) -> Service:
    """The Connect server: a long-lived application on the master, holding its share of the
    cluster's cores, that every task and job attaches to (as ``rankct run`` starts one on the
    local profile). Its Spark UI shows every query of every task."""
    from rankct.spark_connect import server_command

    spark = SparkConfig(master=settings.spark_master_url,
                        driver_memory=settings.spark_connect_memory,
                        shuffle_partitions=settings.spark_shuffle_partitions, ui_enabled=True)
    ui, port = settings.ports["spark_connect_ui"], settings.ports["spark_connect"]
    # Its scratch space is the stack's own, not that of whoever ran `stack up` (a client's
    # RANKCT_SPARK_TMP): it lives as long as the stack, under its folder.
    extra = {"spark.cores.max": str(settings.connect_cores), "spark.ui.port": str(ui),
             "spark.driver.host": settings.spark_connect_host}
    argv = server_command(spark, port, host=settings.bind, extra=extra,
                          scratch=str(settings.home / "spark" / "tmp"))
    return Service("spark-connect", argv, {}, Health("tcp", f"127.0.0.1:{port}"),
                   url=f"http://127.0.0.1:{ui}",
                   needs=tuple(f"spark-worker-{i}" for i in range(1, settings.spark_workers + 1)))


def _airflow(settings: StackSettings) -> list[Service]:
    api = Service("airflow-api-server",
                  [_bin("airflow"), "api-server", "--host", settings.bind,
                   "--port", str(settings.ports["airflow"]), "--workers", "1"],
                  {}, Health("http", f"http://127.0.0.1:{settings.ports['airflow']}"
                                     "/api/v2/monitor/health"),
                  url=f"http://127.0.0.1:{settings.ports['airflow']}")
    components = [
        Service("airflow-scheduler", [_bin("airflow"), "scheduler"], {},
                Health("airflow", "scheduler"), needs=("airflow-api-server",)),
        Service("airflow-dag-processor", [_bin("airflow"), "dag-processor"], {},
                Health("airflow", "dag_processor"), needs=("airflow-api-server",)),
        Service("airflow-triggerer", [_bin("airflow"), "triggerer"], {},
                Health("airflow", "triggerer"), needs=("airflow-api-server",)),
    ]
    if settings.executor == "celery":
        for i in range(1, settings.celery_workers + 1):
            # Each worker serves its task logs on a port of its own and has a unique name.
            components.append(Service(
                f"airflow-worker-{i}",
                [_bin("airflow"), "celery", "worker", "--concurrency",
                 str(settings.celery_concurrency), "--celery-hostname", f"worker-{i}@%h"],
                {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT":
                 str(settings.port("worker_logs", i))},
                Health("log", " ready."), needs=("airflow-api-server",)))
    return [api, *components]


def _mlflow(settings: StackSettings, secrets: dict[str, str]) -> Service:
    port = settings.ports["mlflow"]
    argv = [_bin("mlflow"), "server", "--app-name", "basic-auth", "--host", settings.bind,
            "--port", str(port), "--workers", "1", "--serve-artifacts",
            "--artifacts-destination", str(settings.home / "mlflow" / "artifacts")]
    if settings.mlflow_host not in ("127.0.0.1", "localhost"):
        # MLflow refuses requests whose Host header it does not know (DNS rebinding guard).
        argv += ["--allowed-hosts", (f"{settings.mlflow_host},{settings.mlflow_host}:{port},"
                                    f"localhost,localhost:{port},127.0.0.1,127.0.0.1:{port}")]
    env = {
        # The database URL (a password under Compose) through the environment, not argv (ps).
        "MLFLOW_BACKEND_STORE_URI": settings.database_url(settings.mlflow_db),
        "MLFLOW_AUTH_CONFIG_PATH": str(settings.home / "mlflow" / "basic_auth.ini"),
        "MLFLOW_AUTH_ADMIN_USERNAME": secrets["mlflow_admin_user"],
        "MLFLOW_AUTH_ADMIN_PASSWORD": secrets["mlflow_admin_password"],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets["mlflow_secret_key"],
        # MLflow's server would start job-runner processes (GenAI jobs): not used here.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    return Service("mlflow", argv, env, Health("http", f"http://127.0.0.1:{port}/health"),
                   url=f"http://127.0.0.1:{port}")


def _evidently(settings: StackSettings, secrets: dict[str, str]) -> Service:
    port = settings.ports["evidently"]
    return Service("evidently",
                   [_bin("evidently"), "ui", "--workspace",
                    str(settings.rankct_home / "evidently"), "--host", settings.bind,
                    "--port", str(port)],
                   {"EVIDENTLY_SECRET": secrets["evidently_secret"]},
                   Health("http", f"http://127.0.0.1:{port}/"), url=f"http://127.0.0.1:{port}")


def stack_services(settings: StackSettings, secrets: dict[str, str]) -> list[Service]:
    """Every service of the stack, in the order ``up`` starts them."""
    return [*_spark(settings), _spark_connect(settings), _mlflow(settings, secrets),
            _evidently(settings, secrets), *_airflow(settings)]


def common_environment(settings: StackSettings, secrets: dict[str, str],
                       environ: dict[str, str]) -> dict[str, str]:
    """The environment every service starts with: ``environ`` (this process's), Airflow's
    settings for rankct, the client settings (tasks are clients), the stack's Airflow and the
    Spark settings; keys the caller set already win (Compose sets its own database URLs)."""
    from rankct.config import load_config
    from rankct.orchestrate.environment import airflow_environment

    client = client_environment(settings, secrets)
    overrides = {**client, **airflow_overrides(settings, secrets)}
    base = {**environ, **{k: v for k, v in overrides.items() if k not in environ}}
    config = load_config("prod", environ=base)
    env = airflow_environment(config, environ=base)
    env["AIRFLOW_HOME"] = base["AIRFLOW_HOME"]  # the stack's own, not the local profile's
    env.update({
        "SPARK_HOME": spark_home(),
        "SPARK_LOG_DIR": str(settings.home / "logs"),
        "SPARK_LOCAL_DIRS": str(settings.home / "spark" / "tmp"),
        "SPARK_LOCAL_IP": settings.spark_host if settings.bind == "127.0.0.1" else "",
        "PYSPARK_PYTHON": sys.executable,
        "RANKCT_CONFIG": str(REPO_ROOT / "config" / "prod.yaml"),
    })
    if not env["SPARK_LOCAL_IP"]:
        env.pop("SPARK_LOCAL_IP")
    # PySpark's own setting: spark-submit refuses it beside --master (rankct.spark_connect).
    env.pop("SPARK_REMOTE", None)
    return env
