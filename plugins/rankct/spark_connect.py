"""One Spark for a whole run: a Spark Connect server (Spark 4 ships it) that ``rankct run``,
``make run`` and ``make ui`` start once on the local profile, and that every task and job of
the run attaches to (``spark.remote``) instead of starting a JVM of its own.

A JVM takes seconds to start and its first queries many more (class loading, code generation);
a task attaching to a warm server opens its session in about a second and runs its queries at
the server's speed. The server listens on 127.0.0.1 only, runs the profile's master
(``local[*]``) with the same settings a task's own session would have, and its Python workers
run this interpreter. Where the profile names a server (``spark.remote``: a cluster's), nothing
is started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rankct.config import REPO_ROOT, RankctConfig, SparkConfig
from rankct.errors import ServiceUnavailable
from rankct.spark import server_settings, session_settings

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


@dataclass(frozen=True)
class ConnectServer:
    """A running server: its URL, and the process and log when rankct started it."""

    url: str
    process: subprocess.Popen | None = None
    log: Path | None = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def server_command(spark: SparkConfig, port: int, host: str = "127.0.0.1",
                   extra: dict[str, str] | None = None,
                   scratch: str | None = None) -> list[str]:
    """The ``spark-submit`` command line of a Connect server listening on ``host:port``,
    running ``spark.master`` with the settings a task's own session would have (its scratch
    space in ``scratch``, see :func:`rankct.spark.server_settings`), and ``extra`` (the
    production stack's: its share of the cluster, its UI's port)."""
    settings = {**server_settings(spark, scratch), **session_settings(spark),
                "spark.connect.grpc.binding.address": host,
                "spark.connect.grpc.binding.port": str(port), **(extra or {})}
    command = [str(Path(sys.executable).parent / "spark-submit"), "--class", SERVER_CLASS,
               "--master", spark.master, "--name", "rankct-connect"]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    return command


def start_server(config: RankctConfig, log: Path, port: int | None = None,
                 timeout: float = 180.0) -> ConnectServer:
    """Start a Connect server and wait until it accepts connections.

    ``port`` defaults to ``spark.connect_port``, or a free one when that is taken (another run's
    server). :class:`ServiceUnavailable` if it does not come up within ``timeout``.
    """
    port = port or config.spark.connect_port
    if _port_in_use(port):
        port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    import pyspark

    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_HOME": str(Path(
           pyspark.__file__).parent),
           "PYSPARK_DRIVER_PYTHON": sys.executable,
           # The server's Python workers import the library (batch scoring's functions).
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT / "plugins"),
                                                     os.environ.get("PYTHONPATH", "")) if p)}
    for key in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "RANKCT__SPARK__REMOTE"):
        env.pop(key, None)  # the server itself runs Spark, it does not attach to one
    with open(log, "w") as out:
        process = subprocess.Popen(server_command(config.spark, port), env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = ConnectServer(f"sc://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + timeout
    while not _port_in_use(port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_server(server)
            raise ServiceUnavailable(f"the Spark Connect server did not start on port {port}",
                                     hint=f"see {log}; is Java 17 installed and the port free?")
        time.sleep(0.25)
    return server


def stop_server(server: ConnectServer, timeout: float = 30.0) -> None:
    """Stop a server rankct started (its whole process group); leave any other alone."""
    if server.process is None or server.process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


@contextlib.contextmanager
def connect_server(config: RankctConfig, log: Path) -> Iterator[str]:
    """The URL of the run's Connect server: the profile's, or one started here for the block."""
    if config.spark.remote:
        yield config.spark.remote
        return
    server = start_server(config, log)
    try:
        yield server.url
    finally:
        stop_server(server)


def remote_environment(url: str) -> dict[str, str]:
    """What a process needs to attach to ``url``: rankct's setting. Not PySpark's own
    ``SPARK_REMOTE``: ``spark-submit`` refuses it beside ``--master`` (which the Airflow Spark
    provider always passes); rankct sets it only for the ``feast`` processes it starts."""
    return {"RANKCT__SPARK__REMOTE": url}
