"""Real service endpoints for integration tests: a testcontainers container where a Docker engine
answers, else the service this machine runs. Tests print which one they used; none is skipped."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass


class ServiceBackend(UserWarning):
    """Not a problem: the note, in pytest's summary, of which real service a test used."""


def announce(text: str) -> None:
    """Put ``text`` in the test run's summary (captured output of passing tests is hidden)."""
    warnings.warn(text, ServiceBackend, stacklevel=2)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    backend: str  # "testcontainers" or "local service"


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means "no engine", and we fall back
        return False


@contextlib.contextmanager
def redis_endpoint() -> Iterator[Endpoint]:
    """A running Redis: a fresh container if Docker works, else 127.0.0.1:6379."""
    import redis

    if _docker_available():
        from testcontainers.community.redis import RedisContainer

        with RedisContainer("redis:7") as container:
            yield Endpoint(container.get_container_host_ip(),
                           int(container.get_exposed_port(6379)), "testcontainers")
        return
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        raise RuntimeError(
            "no Redis for the integration tests: no Docker engine for testcontainers and nothing "
            "answers on 127.0.0.1:6379 (start it: redis-server --daemonize yes --port 6379)"
        ) from exc
    yield Endpoint("127.0.0.1", 6379, "local service")
