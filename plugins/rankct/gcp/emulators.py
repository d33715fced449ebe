"""The BigQuery and Cloud Storage emulators as local processes, for tests and demos.

They run from their own environment (``.venv-gcp``, ``make setup-gcp``) through
``emulators/launch.py``, on free ports of 127.0.0.1, each with a log file. What was started is
recorded in ``<state>/emulators.json`` (PIDs, ports, URLs); ``stop`` ends exactly those PIDs,
after checking each is still the launcher it started (a PID can be reused by another program).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from rankct.config import REPO_ROOT
from rankct.errors import RankctError, ServiceUnavailable
from rankct.io import write_json_atomic
from rankct.spark_connect import free_port

LAUNCHER = REPO_ROOT / "emulators" / "launch.py"
STATE_FILE = "emulators.json"


@dataclass
class Emulator:
    """One emulator process: what it serves, where, and its log."""

    name: str  # "bigquery" or "storage"
    pid: int
    url: str
    log: str


@dataclass
class EmulatorState:
    """Both emulators of one state folder, as recorded in ``emulators.json``."""

    project: str
    folder: str
    emulators: list[Emulator]

    def url(self, name: str) -> str:
        return next(e.url for e in self.emulators if e.name == name)

    def environment(self) -> dict[str, str]:
        """The overrides that point the gcp profile's clients at these emulators."""
        return {"RANKCT__GCP__PROJECT": self.project,
                "RANKCT__GCP__BIGQUERY_ENDPOINT": self.url("bigquery"),
                "RANKCT__GCP__STORAGE_ENDPOINT": self.url("storage")}


def emulator_python() -> Path:
    """The interpreter of the emulators' environment; a clear error when it is not installed."""
    python = Path(os.environ.get("RANKCT_GCP_PYTHON", REPO_ROOT / ".venv-gcp" / "bin" / "python"))
    if not python.exists():
        raise RankctError(f"the GCP emulators' environment is missing ({python})",
                          hint="run `make setup-gcp` (it installs emulators/requirements.lock "
                               "into .venv-gcp)")
    return python


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def _health_url(emulator: Emulator) -> str:
    return emulator.url + ("/healthz" if emulator.name == "bigquery" else "/")


def _spawn(name: str, args: list[str], folder: Path, port: int,
           env: dict[str, str]) -> tuple[Emulator, subprocess.Popen]:
    log = folder / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen([str(emulator_python()), str(LAUNCHER), name, *args],
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=True)
    return Emulator(name, process.pid, f"http://127.0.0.1:{port}", str(log)), process


def start(folder: Path | str, project: str, timeout: float = 180.0) -> EmulatorState:
    """Start both emulators for ``project`` with their state under ``folder``; wait until both
    answer their health check. Raises if they are already running there or do not come up."""
    folder = Path(folder)
    current = read_state(folder)
    if current is not None and all(_alive(e) for e in current.emulators):
        raise RankctError(f"the emulators of {folder} are already running",
                          hint="`rankct gcp emulators status` shows them; `down` stops them")
    folder.mkdir(parents=True, exist_ok=True)
    storage_dir, home = folder / "storage", folder / "home"
    home.mkdir(exist_ok=True)
    # HOME: DuckDB's extension folder (the launcher copies the packaged spatial extension there)
    # stays inside the state folder instead of the user's home.
    env = {**os.environ, "HOME": str(home),
           "BQEMU_GCS_LOCAL_ROOT": str(storage_dir / ".cloudstorage")}
    rest, grpc, gcs = free_port(), free_port(), free_port()
    spawned = [
        _spawn("bigquery", ["start", "--rest-port", str(rest), "--grpc-port", str(grpc),
                            "--project", project, "--log-level", "warning"], folder, rest, env),
        _spawn("storage", ["-d", str(storage_dir), "start", "--host", "127.0.0.1",
                           "--port", str(gcs)], folder, gcs, env),
    ]
    processes = {emulator.name: process for emulator, process in spawned}
    state = EmulatorState(project, str(folder), [emulator for emulator, _ in spawned])
    write_json_atomic(folder / STATE_FILE, asdict(state))
    deadline = time.monotonic() + timeout
    waiting = list(state.emulators)
    while waiting and time.monotonic() < deadline:
        waiting = [e for e in waiting if not _healthy(_health_url(e))]
        # Whether a child exited, from its exit status: /proc/<pid>/cmdline (what _alive reads
        # for PIDs of another process) is empty for a moment after a process starts.
        if any(processes[e.name].poll() is not None for e in waiting):
            break
        time.sleep(0.2)
    if waiting:
        exits = {e.name: processes[e.name].poll() for e in waiting}
        stop(folder)
        names = ", ".join(f"{e.name} (" + (f"exited with {exits[e.name]}, " if exits[e.name]
                                           is not None else "") + f"log {e.log})"
                          for e in waiting)
        raise ServiceUnavailable(f"the emulators did not come up within {timeout:.0f}s: {names}",
                                 hint="read the log; `make setup-gcp` reinstalls their "
                                      "environment")
    return state


def read_state(folder: Path | str) -> EmulatorState | None:
    """What ``start`` recorded under ``folder``, or None."""
    path = Path(folder) / STATE_FILE
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return EmulatorState(raw["project"], raw["folder"], [Emulator(**e) for e in raw["emulators"]])


def _alive(emulator: Emulator) -> bool:
    """Whether the PID is still the launcher started for this emulator (not a reused PID)."""
    for _ in range(50):
        try:
            raw = Path(f"/proc/{emulator.pid}/cmdline").read_bytes()
        except OSError:
            return False
        if raw:
            break
        # Empty for a moment after a process starts (and for good in a zombie): look again.
        time.sleep(0.01)
    cmdline = raw.split(b"\0")
    return str(LAUNCHER).encode() in cmdline and emulator.name.encode() in cmdline


def status(folder: Path | str) -> list[dict[str, object]]:
    """Each recorded emulator with whether its process lives and its health check answers."""
    state = read_state(folder)
    if state is None:
        return []
    return [{**asdict(e), "alive": _alive(e), "healthy": _healthy(_health_url(e))}
            for e in state.emulators]


def stop(folder: Path | str, timeout: float = 10.0) -> list[str]:
    """End the recorded emulator processes (by PID only) and forget them; returns their names."""
    folder = Path(folder)
    state = read_state(folder)
    if state is None:
        return []
    stopped = []
    for emulator in state.emulators:
        if not _alive(emulator):
            continue
        os.kill(emulator.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(emulator) and time.monotonic() < deadline:
            _reap(emulator.pid)
            time.sleep(0.1)
        if _alive(emulator):
            os.kill(emulator.pid, signal.SIGKILL)
        _reap(emulator.pid)
        stopped.append(emulator.name)
    (folder / STATE_FILE).unlink(missing_ok=True)
    return stopped


def _reap(pid: int) -> None:
    """Collect a child that exited, so it does not linger as a zombie in this process."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
