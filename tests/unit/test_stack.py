"""``rankct stack`` without its services: the command lines and environments it builds, the
secrets and state files, ``down`` signalling only the process groups it recorded, and the
message of a service that never becomes healthy."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from rankct.cli import main
from rankct.config import load_config
from rankct.errors import ConfigError, RankctError
from rankct.stack import control, processes
from rankct.stack.secrets import load_secrets
from rankct.stack.services import Health, Service, client_environment, stack_services
from rankct.stack.settings import load_settings

SECRETS = {"mlflow_admin_user": "admin", "mlflow_admin_password": "pw-mlflow",
           "mlflow_secret_key": "k1", "airflow_admin_password": "pw-airflow",
           "airflow_jwt_secret": "jwt", "airflow_secret_key": "k2", "evidently_secret": "ev"}


@pytest.fixture
def settings(tmp_path):
    config = load_config("prod", environ={"RANKCT_HOME": str(tmp_path)})
    return load_settings(config, environ={"RANKCT_STACK_MLFLOW_PORT": "5999",
                                          "RANKCT_STACK_DB_SUFFIX": "_t"})


def _by_name(settings, secrets=SECRETS) -> dict[str, Service]:
    return {s.name: s for s in stack_services(settings, secrets)}


def test_services_and_their_command_lines(settings, monkeypatch) -> None:
    monkeypatch.setenv("RANKCT_SPARK_TMP", "/elsewhere/client-scratch")  # not the server's
    services = _by_name(settings)
    assert list(services) == ["spark-master", "spark-worker-1", "spark-worker-2",
                              "spark-connect", "mlflow", "evidently", "airflow-api-server",
                              "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]
    master = services["spark-master"].argv
    assert master[0].endswith("/spark-class") and master[1].endswith("master.Master")
    assert master[master.index("--port") + 1] == "7077"
    worker = services["spark-worker-2"].argv
    assert worker[2] == "spark://127.0.0.1:7077"
    assert worker[worker.index("--webui-port") + 1] == "8083"  # 8082 + worker index - 1
    assert worker[worker.index("--cores") + 1] == "2"
    # The Connect server: an application on the master holding half of the cluster's 4 cores
    # (batch scoring needs the rest), listening where clients are told to attach.
    connect = services["spark-connect"]
    assert connect.argv[0].endswith("/spark-submit")
    assert connect.argv[connect.argv.index("--master") + 1] == "spark://127.0.0.1:7077"
    conf = dict(connect.argv[i + 1].split("=", 1) for i, word in enumerate(connect.argv)
                if word == "--conf")
    assert conf["spark.cores.max"] == "2" and conf["spark.driver.memory"] == "2g"
    assert (conf["spark.connect.grpc.binding.address"], conf["spark.connect.grpc.binding.port"]) \
        == ("127.0.0.1", "15002")
    assert connect.health == Health("tcp", "127.0.0.1:15002")
    assert connect.url == "http://127.0.0.1:4040" and conf["spark.ui.port"] == "4040"
    assert connect.needs == ("spark-worker-1", "spark-worker-2")
    assert conf["spark.local.dir"] == str(settings.home / "spark" / "tmp")
    assert "/elsewhere" not in " ".join(connect.argv)
    mlflow = services["mlflow"]
    text = " ".join(mlflow.argv)
    assert "server --app-name basic-auth" in text and "--serve-artifacts" in text
    assert "--port 5999" in text and "--host 127.0.0.1" in text
    assert mlflow.env["MLFLOW_BACKEND_STORE_URI"] == \
        "postgresql+psycopg2://rankct@127.0.0.1:5432/rankct_mlflow_t"
    assert mlflow.env["MLFLOW_AUTH_ADMIN_PASSWORD"] == "pw-mlflow"
    assert "pw-mlflow" not in text  # passwords never on a command line (ps shows it)
    assert services["airflow-api-server"].argv[1:3] == ["api-server", "--host"]
    assert services["airflow-scheduler"].needs == ("airflow-api-server",)
    assert services["spark-worker-1"].health == Health("spark-worker", "8082")
    assert all(s.argv[0].startswith("/") for s in services.values())


def test_celery_adds_workers_with_their_own_names_and_log_ports(tmp_path) -> None:
    config = load_config("prod", environ={"RANKCT_HOME": str(tmp_path)})
    settings = load_settings(config, environ={}, executor="celery", broker="rabbitmq")
    workers = [s for s in stack_services(settings, SECRETS) if s.name.startswith("airflow-w")]
    assert [w.name for w in workers] == ["airflow-worker-1", "airflow-worker-2"]
    assert [w.argv[w.argv.index("--celery-hostname") + 1] for w in workers] == \
        ["worker-1@%h", "worker-2@%h"]
    assert [w.env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] for w in workers] == \
        ["8795", "8796"]
    from rankct.stack.services import airflow_overrides

    env = airflow_overrides(settings, SECRETS)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "amqp://guest:guest@127.0.0.1:5672//"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == \
        "db+postgresql+psycopg2://rankct@127.0.0.1:5432/rankct_airflow"
    assert env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] == \
        "rankct.airflow.celery_worker.CELERY_CONFIG"
    redis = load_settings(config, environ={"RANKCT_STACK_BROKER_REDIS_DB": "6"},
                          executor="celery")
    assert airflow_overrides(redis, SECRETS)["AIRFLOW__CELERY__BROKER_URL"] == \
        "redis://127.0.0.1:6379/6"
    assert airflow_overrides(load_settings(config, environ={}), SECRETS)[
        "AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"


def test_a_celery_worker_imports_the_stages_libraries_before_it_forks(tmp_path) -> None:
    """The stack's Celery settings, given to Celery's own app: its loader's start-up (what a
    worker runs before forking its pool) imports the libraries every task would import."""
    import sys

    probe = (
        "import sys\n"
        "from celery import Celery\n"
        "from rankct.airflow import celery_worker\n"
        "app = Celery('probe', config_source=celery_worker.CELERY_CONFIG)\n"
        "before = [m for m in celery_worker.PRELOADED if m in sys.modules]\n"
        "app.loader.init_worker()\n"
        "print(before, [m for m in celery_worker.PRELOADED if m not in sys.modules],\n"
        "      app.conf.broker_connection_retry_on_startup)\n")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    # Nothing heavy before the worker starts (the scheduler imports the module too), all of
    # it after; Airflow's own settings are kept.
    assert done.stdout.strip().splitlines()[-1] == "[] [] True", done.stdout[-3000:]


def test_settings_refuse_what_cannot_work(tmp_path) -> None:
    config = load_config("prod", environ={"RANKCT_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="executor"):
        load_settings(config, environ={}, executor="kubernetes")
    with pytest.raises(ConfigError, match="index 0"):
        load_settings(config, environ={"RANKCT_STACK_BROKER_REDIS_DB": "0"})
    with pytest.raises(ConfigError, match="RANKCT_STACK_AIRFLOW_PORT"):
        load_settings(config, environ={"RANKCT_STACK_AIRFLOW_PORT": "eighty"})
    # A Connect server holding every core would leave batch scoring waiting for ever.
    with pytest.raises(ConfigError, match="all 2 cores"):
        load_settings(config, environ={"RANKCT_STACK_SPARK_WORKER_CORES": "1",
                                       "RANKCT_STACK_SPARK_CONNECT_CORES": "2"})
    assert load_settings(config, environ={"RANKCT_STACK_SPARK_WORKER_CORES": "1"}
                         ).connect_cores == 1
    free = load_settings(config, environ={}).with_free_ports()
    assert free.port("spark_worker_ui", 2) == free.ports["spark_worker_ui_2"] != 8083
    assert len(set(free.ports.values())) == len(free.ports)  # no two services share one


def test_a_client_uses_the_tracking_server_and_the_master(settings, monkeypatch) -> None:
    env = client_environment(settings, SECRETS)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])  # as eval would
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5999"
    assert (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]) == \
        ("admin", "pw-mlflow")
    assert env["RANKCT_REDIS"] == "127.0.0.1:6379,db=3"
    config = load_config(environ=env)
    assert config.profile == "prod" and config.spark.master == "spark://127.0.0.1:7077"
    # Tasks and jobs attach to the stack's Connect server, with a shuffle partition count
    # sized to the cores it holds.
    assert config.spark.remote == "sc://127.0.0.1:15002"
    assert config.spark.shuffle_partitions == 4
    from rankct.stack.services import common_environment

    served = common_environment(settings, SECRETS, {"SPARK_REMOTE": "sc://elsewhere:1"})
    assert served["RANKCT__SPARK__REMOTE"] == "sc://127.0.0.1:15002"
    assert "SPARK_REMOTE" not in served  # spark-submit refuses it beside --master
    from rankct.registry.store import resolve_uris

    tracking, registry, artifacts = resolve_uris(config)
    assert (tracking, registry, artifacts) == ("http://127.0.0.1:5999",) * 2 + ("",)
    # The local profile is unchanged: SQLite and files under the home.
    local = resolve_uris(load_config("local", environ={"RANKCT_HOME": "/srv/h"}))
    assert local[0] == "sqlite:////srv/h/mlflow/mlflow.db"
    assert local[2] == "file:///srv/h/mlflow/artifacts"


def test_secrets_are_generated_once_kept_private_and_overridable(tmp_path) -> None:
    first = load_secrets(tmp_path, environ={})
    path = tmp_path / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secrets(tmp_path, environ={}) == first
    assert len(first["mlflow_admin_password"]) >= 24
    assert load_secrets(tmp_path, environ={"MLFLOW_ADMIN_PASSWORD": "mine"})[
        "mlflow_admin_password"] == "mine"
    path.chmod(0o644)
    with pytest.raises(RankctError, match="readable by other users"):
        load_secrets(tmp_path, environ={})


def test_state_file_round_trip_and_atomic_replacement(tmp_path) -> None:
    assert processes.read_state(tmp_path) is None
    processes.write_state(tmp_path, {"services": [{"name": "a", "pid": 1}]})
    processes.write_state(tmp_path, {"services": [{"name": "b", "pid": 2}]})
    assert processes.read_state(tmp_path) == {"services": [{"name": "b", "pid": 2}]}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary left


def _group(tmp_path: Path, name: str) -> subprocess.Popen:
    """A harmless process group: a shell with a child sleep, as a server has workers."""
    return subprocess.Popen(["sh", "-c", "sleep 300 & wait"], start_new_session=True,
                            stdout=subprocess.DEVNULL)


def _group_members(pgid: int) -> list[int]:
    """Live processes of group ``pgid`` (zombies have exited: PID 1 here may not reap them)."""
    members = []
    for entry in Path("/proc").iterdir():
        try:
            raw = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        fields = raw[raw.rindex(")") + 2:].split()  # state, ppid, pgrp, ...
        if entry.name.isdigit() and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def test_down_stops_only_the_recorded_groups(tmp_path, settings) -> None:
    recorded, other = _group(tmp_path, "recorded"), _group(tmp_path, "other")
    try:
        time.sleep(0.3)
        assert len(_group_members(recorded.pid)) == 2  # the shell and its sleep
        entry = {"name": "sleeper", "pid": recorded.pid,
                 "started": processes.start_time(recorded.pid), "url": "", "log": "x"}
        # The other group's PID is recorded with a wrong start time: a reused PID.
        reused = {**entry, "name": "reused", "pid": other.pid, "started": 1}
        processes.write_state(settings.home, {"settings": control.settings_to_json(settings),
                                              "services": [reused, entry]})
        results = control.down(settings, timeout=5, say=lambda _: None)
        assert dict(results) == {"sleeper": "stopped", "reused": "not running"}
        recorded.wait(timeout=5)
        assert _group_members(recorded.pid) == []  # the child sleep went with the group
        assert other.poll() is None and len(_group_members(other.pid)) == 2
        assert processes.read_state(settings.home) is None
    finally:
        for proc in (recorded, other):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_a_group_ignoring_sigterm_is_killed(tmp_path) -> None:
    stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 300 & wait"],
                                start_new_session=True)
    try:
        time.sleep(0.3)
        assert processes.stop_group(stubborn.pid, processes.start_time(stubborn.pid),
                                    timeout=1) == "killed"
        assert _group_members(stubborn.pid) == []
    finally:
        if stubborn.poll() is None:
            os.killpg(stubborn.pid, signal.SIGKILL)
        stubborn.wait()


def test_a_service_that_exits_at_once_is_named_with_its_log(settings) -> None:
    broken = Service("mlflow", ["sh", "-c", "echo cannot bind >&2; exit 1"], {},
                     Health("http", "http://127.0.0.1:9/health"))
    log = settings.home / "logs" / "mlflow.log"
    pid, started = processes.spawn(broken.argv, dict(os.environ), log)
    with pytest.raises(control.StackFailed) as failure:
        control._wait_healthy(broken, settings, pid, started, time.monotonic() + 30)
    assert "mlflow exited before it became healthy" in str(failure.value)
    assert str(log) in str(failure.value) and "cannot bind" in log.read_text()
    assert failure.value.exit_code != 0


def test_a_service_that_never_answers_times_out_naming_it(settings) -> None:
    silent = Service("evidently", ["sleep", "30"], {},
                     Health("http", "http://127.0.0.1:9/"))
    log = settings.home / "logs" / "evidently.log"
    pid, started = processes.spawn(silent.argv, dict(os.environ), log)
    try:
        with pytest.raises(control.StackFailed, match="evidently did not become healthy"):
            control._wait_healthy(silent, settings, pid, started, time.monotonic() + 1.5)
    finally:
        processes.stop_group(pid, started, timeout=2)


def test_stack_commands_need_the_prod_profile(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RANKCT_HOME", str(tmp_path))
    monkeypatch.setenv("RANKCT_PROFILE", "local")
    assert main(["stack", "status"]) == 2
    assert "--profile prod" in capsys.readouterr().err
    # --profile after the command overrides RANKCT_PROFILE; nothing recorded: exit 3.
    assert main(["stack", "status", "--json", "--profile", "prod"]) == 3
    assert json.loads(capsys.readouterr().out)["services"] == []
    assert os.environ["RANKCT_PROFILE"] == "prod"
