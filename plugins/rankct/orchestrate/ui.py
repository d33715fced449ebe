"""``make ui``: the Airflow UI, the MLflow UI and the Evidently UI on localhost over the state
that ``make run`` wrote (``$RANKCT_HOME``), each started as its own process, with the URLs
printed once all three answer.

Every server listens on 127.0.0.1 unless ``--host`` says otherwise. Airflow asks for a login:
the admin's password is generated on first use, printed once and kept (mode 0600) in
``<home>/airflow/simple_auth_manager_passwords.json``. Airflow runs its API server (the UI),
scheduler and DAG processor with the same environment as ``rankct run``; the DAGs stay paused
until someone unpauses them, so opening the UI never starts a run by itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from rankct.config import RankctConfig
from rankct.errors import RankctError
from rankct.orchestrate.environment import AIRFLOW_ADMIN, airflow_environment, passwords_file
from rankct.spark_connect import connect_server, remote_environment

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class UiProcess:
    name: str
    url: str
    health: str  # path answering 200 once the server is up
    command: list[str]


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def airflow_login(config: RankctConfig) -> tuple[str, str, bool]:
    """(user, password, new): the local Airflow admin, with a password generated on first use
    and kept in a file only its owner can read."""
    path = passwords_file(config)
    if path.exists():
        return AIRFLOW_ADMIN, json.loads(path.read_text())[AIRFLOW_ADMIN], False
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({AIRFLOW_ADMIN: password}, out)
    return AIRFLOW_ADMIN, password, True


def ui_processes(config: RankctConfig, host: str = LOOPBACK) -> list[UiProcess]:
    """What ``make ui`` starts, on ``host`` and the ports of ``ui.*_url``."""
    from rankct.registry.store import resolve_uris

    tracking, _, artifacts = resolve_uris(config)
    airflow, mlflow, evidently = (urlparse(u) for u in (config.ui.airflow_url,
                                                        config.ui.mlflow_url,
                                                        config.ui.evidently_url))
    (config.home / "evidently").mkdir(parents=True, exist_ok=True)
    return [
        UiProcess("airflow", config.ui.airflow_url, "/api/v2/monitor/health",
                  [_bin("airflow"), "api-server", "--host", host,
                   "--port", str(airflow.port or 8080), "--workers", "1"]),
        UiProcess("airflow-scheduler", "", "", [_bin("airflow"), "scheduler"]),
        UiProcess("airflow-dag-processor", "", "", [_bin("airflow"), "dag-processor"]),
        UiProcess("mlflow", config.ui.mlflow_url, "/health",
                  [_bin("mlflow"), "ui", "--backend-store-uri", tracking,
                   "--default-artifact-root", artifacts, "--host", host,
                   "--port", str(mlflow.port or 5000), "--workers", "1"]),
        UiProcess("evidently", config.ui.evidently_url, "/",
                  [_bin("evidently"), "ui", "--workspace", str(config.home / "evidently"),
                   "--host", host, "--port", str(evidently.port or 8000)]),
    ]


def _answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def running_uis(config: RankctConfig, timeout: float = 180.0,
                only: tuple[str, ...] | None = None,
                host: str = LOOPBACK) -> Iterator[list[UiProcess]]:
    """Start the UIs on ``host``, wait until every one answers, yield them, stop them on exit."""
    from rankct.orchestrate.airflow_cli import migrate

    # MLflow's server would start seven job-runner processes (GenAI jobs): not used here.
    env = {**airflow_environment(config), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    logs = config.home / "ui_logs"
    logs.mkdir(parents=True, exist_ok=True)
    migrate(env, logs / "db_migrate.log")
    airflow_login(config)  # before the API server starts: it reads the file once
    wanted = [p for p in ui_processes(config, host) if only is None or p.name in only]
    started: list[tuple[UiProcess, subprocess.Popen]] = []
    spark = contextlib.ExitStack()
    try:
        if any(p.name == "airflow-scheduler" for p in wanted):
            # Tasks the scheduler runs attach to one Spark, as those of `rankct run` do.
            url = spark.enter_context(connect_server(config, logs / "spark_connect.log"))
            env = {**env, **remote_environment(url)}
        for ui in wanted:
            log = open(logs / f"{ui.name}.log", "w")  # noqa: SIM115 - closed with the process
            started.append((ui, subprocess.Popen(ui.command, env=env, stdout=log,
                                                 stderr=subprocess.STDOUT,
                                                 start_new_session=True)))
        deadline = time.monotonic() + timeout
        for ui, proc in started:
            if not ui.health:
                continue
            while not _answers(ui.url.rstrip("/") + ui.health):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RankctError(f"the {ui.name} UI did not come up on {ui.url}",
                                      hint=f"see {logs / (ui.name + '.log')}; is the port "
                                           "taken by another program?")
                time.sleep(1)
        yield [ui for ui, _ in started]
    finally:
        # Each server runs in its own process group (its workers too): stop the whole group.
        for _, proc in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in started:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        spark.close()


def serve_uis(config: RankctConfig, check_only: bool = False, host: str = LOOPBACK) -> int:
    """Run the UIs on ``host`` until Ctrl-C or SIGTERM (``check_only``: until they all answered).
    """
    # SIGTERM must unwind like Ctrl-C so that the servers are stopped with this process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    user, password, new = airflow_login(config)
    with running_uis(config, host=host) as uis:
        print(f"rankct UIs over {config.home}:")
        for ui in uis:
            if ui.url:
                print(f"  {ui.name:<10} {ui.url}")
        if new:
            print(f"  Airflow login: {user} / {password}  (shown once; kept in "
                  f"{passwords_file(config)}, readable by you only)")
        else:
            print(f"  Airflow login: {user}, password in {passwords_file(config)}")
        if host not in (LOOPBACK, "localhost", "::1"):
            print(f"  warning: listening on {host}: anyone who reaches this machine reaches "
                  "MLflow and Evidently, which have no login on the local profile; the "
                  "production profile (docker-compose.yaml) puts them behind one")
        print("  (Airflow: DAGs ranker_continuous_training, ranker_batch_scoring, "
              "ranker_monitoring; MLflow: model marketplace_ranker; Evidently: rankct projects)")
        if check_only:
            return 0
        print("Ctrl-C stops them.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0
