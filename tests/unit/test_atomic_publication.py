"""Publication in one step: a writer SIGKILLed at random instants, many times, leaves the old
or the new content (complete, of one version), a reader polling the whole time never finds the
folder missing, and the next write removes what the killed writers left."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rankct.io import _sibling, atomic_dir, atomic_file, clean_leftovers, exchange

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
FILES = 12
EXPECTED = sorted([f"f{k:02d}" for k in range(FILES)] + ["_SUCCESS"])
# Publishes a new version of the folder as fast as it can until it is killed.
WRITER = f"""
import sys
from pathlib import Path
from rankct.io import atomic_dir
target, version = Path(sys.argv[1]), int(sys.argv[2])
print("ready", flush=True)
while True:
    version += 1
    with atomic_dir(target) as tmp:
        for k in range({FILES}):
            (tmp / f"f{{k:02d}}").write_text(str(version))
        (tmp / "_SUCCESS").write_text(str(version))
"""


def _publish(target: Path, version: int) -> None:
    with atomic_dir(target) as tmp:
        for k in range(FILES):
            (tmp / f"f{k:02d}").write_text(str(version))
        (tmp / "_SUCCESS").write_text(str(version))


def _content(target: Path) -> tuple[list[str], set[str]]:
    files = list(target.iterdir())
    return sorted(p.name for p in files), {p.read_text() for p in files}


@pytest.mark.slow
def test_a_writer_killed_at_random_instants_leaves_old_or_new_content(tmp_path) -> None:
    target = tmp_path / "dt=2026-11-01"
    _publish(target, 0)
    missing: list[float] = []
    stop = threading.Event()

    def reader() -> None:  # a reader of the partition, all the while
        while not stop.is_set():
            try:
                os.listdir(target)
            except FileNotFoundError:
                missing.append(time.monotonic())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    rng, versions = random.Random(7), []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGINS),
                                                        os.environ.get("PYTHONPATH", "")])}
    try:
        for kill in range(40):
            writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target),
                                       str(kill * 1_000_000)], stdout=subprocess.PIPE, env=env)
            assert writer.stdout.readline() == b"ready\n"
            time.sleep(rng.uniform(0.0, 0.06))
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            names, values = _content(target)
            assert names == EXPECTED, f"kill {kill}: the folder holds {names}"
            assert len(values) == 1, f"kill {kill}: a mix of versions {values}"
            versions.append(int(values.pop()))
    finally:
        stop.set()
        thread.join()
    assert not missing, f"the folder was missing {len(missing)} time(s) while it was rewritten"
    assert len(set(versions)) > 10, "the writers published too rarely for the test to mean much"
    # Killed writers leave their temporary folders; the next write removes them.
    _publish(target, -1)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert _content(target) == (EXPECTED, {"-1"})


def test_a_failed_write_changes_nothing_and_leaves_nothing(tmp_path) -> None:
    target = tmp_path / "bundle"
    _publish(target, 1)
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "f00").write_text("half-written")
        raise RuntimeError("the writer failed")
    assert _content(target) == (EXPECTED, {"1"})
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]
    with pytest.raises(RuntimeError), atomic_file(tmp_path / "record.json") as tmp:
        tmp.write_text("{")
        raise RuntimeError("the writer failed")
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_leftovers_of_dead_writers_go_and_those_of_live_writers_stay(tmp_path) -> None:
    target = tmp_path / "part"
    mine = _sibling(target, ".tmp-")  # this process: a writer still at work
    mine.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    gone = tmp_path / mine.name.replace(f"~{os.getpid()}~", f"~{dead.stdout.strip()}~")
    gone.mkdir()
    foreign_fresh = tmp_path / ".tmp-part~1~other-host~aaaa0000"
    foreign_stale = tmp_path / ".tmp-part~1~other-host~bbbb0000"
    old = tmp_path / ".old-part~1~other-host~cccc0000"
    unrelated = tmp_path / ".tmp-partition~1~x~dddd0000"  # another target's
    for path in (foreign_fresh, foreign_stale, old, unrelated):
        path.mkdir()
    day_ago = time.time() - 25 * 3600
    os.utime(foreign_stale, (day_ago, day_ago))
    removed = set(clean_leftovers(target))
    assert removed == {gone, foreign_stale, old}
    assert mine.exists() and foreign_fresh.exists() and unrelated.exists()


def test_exchange_swaps_two_folders(tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    (b / "x").write_text("b")
    assert exchange(a, b), "this system swaps folders in one step (renameat2 / renamex_np)"
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"
