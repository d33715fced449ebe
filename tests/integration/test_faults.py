"""Faults caused for real on private servers (tests/private_services.py), never on the
machine's shared ones.

- Redis killed in the middle of a day's materialization and started again: the stage retries,
  and afterwards every row of the day that the online store serves equals the offline row.
- The registry's PostgreSQL stopped under the MLflow tracking server while a challenger is to
  be promoted: retried, then a failure that names the registry and what to do; the champion
  alias is untouched once PostgreSQL is back, and the same promotion then goes through.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from tests.integration.conftest import LAST
from tests.private_services import PostgresServer, RedisServer
from tests.services import announce
from tests.unit.test_registry import data  # noqa: F401 - the models of the registry test

pytestmark = pytest.mark.integration


def _restart_when_written(server: RedisServer, down_seconds: float,
                          seen: dict[str, int]) -> threading.Thread:
    """Watch the private Redis; once the first keys land, kill it, wait, start it again."""

    def watch() -> None:
        client = server.client()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                keys = client.dbsize()
            except Exception:  # noqa: BLE001 - the server is not up yet
                keys = 0
            if keys:
                server.kill()
                seen["keys_at_kill"] = keys
                time.sleep(down_seconds)
                server.start()
                return
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_redis_restarted_mid_materialize_is_retried_and_online_equals_offline(
        applied_redis, monkeypatch, tmp_path, caplog) -> None:
    from rankct.online.feast_repo import feature_store
    from rankct.online.skew import check_skew
    from rankct.pipeline import prepare

    server = RedisServer(tmp_path / "redis").start()
    announce(f"fault test: a private redis-server on port {server.port}, killed and restarted "
             "during materialization")
    monkeypatch.setenv("RANKCT_REDIS", server.connection_string)
    try:
        assert feature_store(applied_redis).config.online_store.connection_string == \
            server.connection_string
        seen: dict[str, int] = {}
        watcher = _restart_when_written(server, down_seconds=0.5, seen=seen)
        with caplog.at_level(logging.WARNING, logger="rankct.retry"):
            stats = prepare.materialize(applied_redis, LAST)
        watcher.join(timeout=30)
        final = server.client().dbsize()
        # The kill came while the day was being written, not before or after it.
        assert 0 < seen.get("keys_at_kill", 0) < final, (seen, final)
        retried = [r.getMessage() for r in caplog.records if "attempt 1 of" in r.getMessage()]
        assert retried and "ConnectionError" in retried[0], caplog.text
        assert sum(v["rows"] for v in stats["views"].values()) > 0
        # Every offline row of the day, read back through Feast's own online read path.
        report = check_skew(applied_redis, LAST, sample_size=1_000_000)
        assert report.passed and not report.missing, report.summary()
        assert report.checked > 1000
    finally:
        server.stop()


def _mlflow_server_on(pg: PostgresServer, home) -> tuple[str, dict[str, str], object]:
    """The stack's own MLflow server command line (basic auth, artifacts served) with its
    tracking store on the private PostgreSQL; (URL, client login variables, process)."""
    import os
    import subprocess
    import urllib.request

    from rankct.stack.prepare import write_logins
    from rankct.stack.secrets import load_secrets
    from rankct.stack.services import stack_services
    from rankct.stack.settings import StackSettings, free_port

    settings = StackSettings(home=home, rankct_home=home, postgres_port=pg.port,
                             postgres_user="postgres", mlflow_db="mlflow",
                             ports={**StackSettings(home, home).ports, "mlflow": free_port()})
    pg.create_database("mlflow")
    secrets = load_secrets(home, {})
    write_logins(settings, secrets)
    (server,) = [s for s in stack_services(settings, secrets) if s.name == "mlflow"]
    log = open(home / "mlflow.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(server.argv, env={**os.environ, **server.env}, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(server.health.target, timeout=5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the MLflow server did not start: see {home / 'mlflow.log'}")
            time.sleep(1)
    login = {"MLFLOW_TRACKING_USERNAME": secrets["mlflow_admin_user"],
             "MLFLOW_TRACKING_PASSWORD": secrets["mlflow_admin_password"]}
    return settings.mlflow_url, login, process


def test_a_stopped_registry_database_is_retried_then_fails_clearly_champion_untouched(
        config, data, tmp_path_factory, monkeypatch, caplog) -> None:  # noqa: F811
    """PostgreSQL stopped under the MLflow server between the gate's decision and the
    promotion: the promotion (what the promote task runs) is retried, then fails naming the
    registry call and what to check, and changes nothing; once PostgreSQL is back the same
    decision record promotes."""
    import os
    import signal

    from rankct.config import GateConfig
    from rankct.errors import ServiceUnavailable
    from rankct.gates.apply import apply_decision
    from rankct.registry import champion_version, open_store
    from rankct.registry.history import read_history

    from tests.unit.test_champion_integrity import _record_for
    from tests.unit.test_registry import judge, register

    pg = PostgresServer().start()
    home = tmp_path_factory.mktemp("registry_fault")
    process = None
    try:
        url, login, process = _mlflow_server_on(pg, home)
        announce(f"fault test: a private PostgreSQL on port {pg.port} under an MLflow server "
                 f"at {url}, stopped before a promotion")
        for key, value in {**login, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
                           "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                           "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0"}.items():
            monkeypatch.setenv(key, value)
        cfg = config.model_copy(deep=True)
        cfg.profile, cfg.home = "prod", home
        cfg.mlflow.tracking_uri, cfg.mlflow.registry_uri = url, ""
        cfg.mlflow.artifact_root = ""
        cfg.mlflow.retry_backoff_seconds = 0.2
        cfg.gate = GateConfig(min_ndcg=0.1)
        store = open_store(cfg)
        first = register(store, data, "mediocre")
        assert judge(store, cfg, data, first.version, "mediocre", None).passed
        second = register(store, data, "good")
        decision = _record_for(store, cfg, data, second.version, "mediocre")
        assert decision.passed
        history = read_history(store.state_dir)

        pg.stop()
        with caplog.at_level(logging.WARNING, logger="rankct.retry"), \
                pytest.raises(ServiceUnavailable) as raised:
            apply_decision(store, second.version, decision.record)
        message = str(raised.value)
        assert f"on {url} failed 3 time(s)" in message and "503" in message, message
        assert "the registry was not changed" in message
        assert len([r for r in caplog.records if "retrying in" in r.getMessage()]) == 2

        pg.start()
        assert champion_version(store) == first.version
        assert read_history(store.state_dir) == history
        # The same decision, applied again once the database is back, promotes.
        assert apply_decision(store, second.version, decision.record).champion == second.version
        assert champion_version(store) == second.version
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        pg.remove()
