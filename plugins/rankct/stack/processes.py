"""Processes of the stack and the state file that records them.

Every service runs in a process group of its own (``start_new_session``): its children (a
JVM under spark-class, gunicorn/uvicorn workers, Celery's pool) stop with it. The state file
records each group's leader PID and its start time (from ``/proc``), so that ``down`` signals
exactly the groups ``up`` started, and never a process that later reused one of those PIDs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any


def state_file(home: Path) -> Path:
    return home / "state.json"


def read_state(home: Path) -> dict[str, Any] | None:
    """The recorded stack, or None if none was started here."""
    path = state_file(home)
    if not path.exists():
        return None
    return json.loads(path.read_text())


def write_state(home: Path, state: dict[str, Any]) -> None:
    """Replace the state file atomically: a reader sees the old file or the new one, whole."""
    home.mkdir(parents=True, exist_ok=True)
    path = state_file(home)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w") as out:
        json.dump(state, out, indent=2, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22), or
    None if there is no such process: with the PID it names one process for good."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = raw[raw.rindex(")") + 2:].split()
    if fields[0] == "Z":  # a zombie has exited; only its parent has not reaped it yet
        return None
    return int(fields[19])


def is_alive(pid: int | None, started: int | None) -> bool:
    """Whether the process recorded as (``pid``, ``started``) still runs."""
    return pid is not None and started is not None and start_time(pid) == started


def spawn(argv: list[str], env: dict[str, str], log: Path) -> tuple[int, int]:
    """Start ``argv`` in a new process group with output to ``log`` (a fresh one: a failure
    message points at this start's lines only); (pid, start time). The child does not die
    with this process (``up`` returns)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    started = start_time(process.pid)
    if started is None:  # exited at once: keep the pid so the failure can be reported
        process.wait()
        return process.pid, -1
    return process.pid, started


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Only zombies left (children of ours not reaped yet) count as gone.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_group(pid: int, started: int | None, timeout: float = 20.0) -> str:
    """Stop the process group led by the recorded process: SIGTERM, then SIGKILL after
    ``timeout`` seconds. Returns what happened ("stopped", "killed", "not running").

    A PID whose process is not the recorded one (it exited and the number was reused) is left
    alone: only a leader that is still the process ``up`` started has its group signalled.
    """
    if not is_alive(pid, started):
        return "not running"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not _group_alive(pid):
            return "stopped"
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    for _ in range(50):
        _reap(pid)
        if not _group_alive(pid):
            break
        time.sleep(0.1)
    return "killed"


def _reap(pid: int) -> None:
    """Collect the exit status of a child of this process (tests start groups themselves)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
