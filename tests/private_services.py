"""Private Redis and PostgreSQL servers for fault tests: started on free ports in folders of the
test's own, so that a test may kill, stop and restart them. The machine's shared services
(127.0.0.1:6379, :5432) are never touched by a fault.

Redis keeps an append-only file synced on every write (as a production Redis or Memorystore
with persistence does), so a kill and restart loses no acknowledged write. PostgreSQL runs as
the ``postgres`` system user (initdb refuses root), trust authentication on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from rankct.stack.settings import free_port

PG_BIN = Path("/usr/lib/postgresql") / (max(os.listdir("/usr/lib/postgresql"))
                                        if Path("/usr/lib/postgresql").is_dir() else "15") / "bin"


def _wait(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up in {timeout:.0f} s")
        time.sleep(0.05)


class RedisServer:
    """``redis-server`` on a free port, with an fsync-always AOF under ``folder``."""

    def __init__(self, folder: Path) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install "
                               "redis-server); the fault tests start private instances of it")
        self.folder, self.port = folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    @property
    def connection_string(self) -> str:
        """Feast's form (what RANKCT_REDIS holds)."""
        return f"127.0.0.1:{self.port},db=0"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=2)

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "always",
             "--save", "", "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self._answers, f"the private Redis on port {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown; what was acknowledged is in the AOF."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


class PostgresServer:
    """A PostgreSQL cluster of its own (initdb) on a free port, run by ``pg_ctl`` as the
    ``postgres`` user; :meth:`stop` and :meth:`start` cause and end an outage."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"no initdb under {PG_BIN}: the fault tests need PostgreSQL's "
                               "server binaries (Debian: postgresql)")
        # Under /tmp, not the test's tmp_path: the postgres user cannot enter root's folders.
        self.folder = Path(tempfile.mkdtemp(prefix="rankct-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        user = pwd.getpwnam("postgres")
        os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust",
                           "-U", "postgres", "--no-sync"])

    def _as_postgres(self, argv: list[str]) -> None:
        command = ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {proc.stderr[-2000:]}")

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresServer:
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
                           "-l", str(self.folder / "postgres.log"), "-o",
                           (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                           "-c fsync=off"), "start"])
        return self

    def stop(self) -> None:
        """Stop the server (fast mode: sessions are cut, as when a database goes down)."""
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                           "stop"])

    def create_database(self, name: str) -> str:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                      dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return self.url(name)

    def remove(self) -> None:
        try:
            self.stop()
        except RuntimeError:
            pass  # stopped already
        shutil.rmtree(self.folder, ignore_errors=True)
