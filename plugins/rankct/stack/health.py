"""Health checks of the stack's services and of the machine's PostgreSQL and Redis."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rankct.stack.services import Health
from rankct.stack.settings import StackSettings


def _get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    """(status, body) of a GET; status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (urllib.error.URLError, OSError, ValueError):
        return 0, b""


def _json(url: str) -> Any:
    status, body = _get(url)
    if status != 200:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def airflow_health(settings: StackSettings) -> dict[str, Any] | None:
    """The API server's health report (metadatabase, scheduler, triggerer, dag_processor)."""
    return _json(f"http://127.0.0.1:{settings.ports['airflow']}/api/v2/monitor/health")


def spark_master_state(settings: StackSettings) -> dict[str, Any] | None:
    """The standalone master's JSON (status, workers, applications)."""
    return _json(f"http://127.0.0.1:{settings.ports['spark_ui']}/json/")


def check(health: Health, settings: StackSettings, log: Path) -> bool:
    """Whether the service described by ``health`` works now."""
    if health.kind == "http":
        return _get(health.target)[0] in health.ok
    if health.kind == "airflow":
        report = airflow_health(settings) or {}
        return (report.get(health.target) or {}).get("status") == "healthy"
    if health.kind == "spark-worker":
        state = spark_master_state(settings) or {}
        return any(w.get("state") == "ALIVE"
                   and str(w.get("webuiaddress", "")).endswith(f":{health.target}")
                   for w in state.get("workers", []))
    if health.kind == "tcp":
        host, _, port = health.target.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=3).close()
            return True
        except OSError:
            return False
    if health.kind == "log":
        try:
            return health.target in log.read_text(errors="replace")
        except FileNotFoundError:
            return False
    raise ValueError(f"unknown health check kind {health.kind!r}")


def postgres_answers(admin_url: str) -> str | None:
    """None when PostgreSQL accepts a connection at ``admin_url``, else why not."""
    import psycopg2

    try:
        psycopg2.connect(admin_url, connect_timeout=3).close()
        return None
    except psycopg2.Error as exc:
        return str(exc).strip()


def redis_answers(settings: StackSettings, db: int) -> str | None:
    """None when Redis answers PING on database ``db``, else why not."""
    import redis

    try:
        redis.Redis(host=settings.redis_host, port=settings.redis_port, db=db,
                    socket_connect_timeout=3).ping()
        return None
    except redis.exceptions.RedisError as exc:
        return str(exc)
