"""Atomic publication of files and partitions: write beside the target, then publish in one
step.

A folder is published by swapping it with the old one in a single ``renameat2(RENAME_EXCHANGE)``
(``renamex_np(RENAME_SWAP)`` on macOS), a file by one ``rename``: whenever a writer is killed,
the target holds the old content or the new, never neither and never a mix. The replaced
content is deleted after the swap. Each write first removes what earlier writers left beside
the target: the ``.tmp-`` files and folders of writers that died (their process no longer runs,
or, for another host's, a day has passed) and ``.old-`` folders of the two-step fallback. Names
start with a dot, so Spark and pyarrow never read them as data.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import logging
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rankct.contract import SUCCESS_MARKER

log = logging.getLogger(__name__)
_TMP, _OLD, _SEP = ".tmp-", ".old-", "~"
_FOREIGN_LEFTOVER_SECONDS = 24 * 3600  # a leftover of another host's writer: removed after this
_HOST = socket.gethostname().replace(_SEP, "-")


def _sibling(target: Path, prefix: str) -> Path:
    """``<parent>/<prefix><name>~<pid>~<host>~<random><suffix>``: whose it is, for the next
    writer; the suffix keeps the file type for writers that go by it."""
    return target.parent / (_SEP.join((f"{prefix}{target.name}", str(os.getpid()), _HOST,
                                       uuid.uuid4().hex[:8])) + target.suffix)


def _writer_alive(pid: int, host: str) -> bool:
    if host != _HOST:
        return True  # judged by age instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(target: Path | str) -> list[Path]:
    """Remove what earlier writes of ``target`` left beside it; return what was removed.

    Replaced content (``.old-``) always goes; a temporary (``.tmp-``) only once its writer is
    gone, so a writer still at work is never disturbed.
    """
    target = Path(target)
    if not target.parent.is_dir():
        return []
    removed = []
    for path in target.parent.iterdir():
        for prefix in (_TMP, _OLD):
            head = f"{prefix}{target.name}{_SEP}"
            if not path.name.startswith(head):
                continue
            pid, _, host = path.name[len(head):].partition(_SEP)
            host = host.rpartition(_SEP)[0]
            if not pid.isdigit() or not host:
                continue  # not a name this module made for this target (e.g. "a~b"'s)
            if prefix == _TMP and _writer_alive(int(pid), host):
                try:
                    age = time.time() - path.lstat().st_mtime
                except FileNotFoundError:
                    continue
                if host == _HOST or age < _FOREIGN_LEFTOVER_SECONDS:
                    continue
            _remove(path)
            removed.append(path)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step; False where the system cannot."""
    libc = _libc()
    if libc is None:
        return False
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        at_fdcwd, rename_exchange = -100, 2
        result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b),
                                rename_exchange)
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        result = libc.renamex_np(os.fsencode(a), os.fsencode(b), 0x2)  # RENAME_SWAP
    else:
        return False
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # e.g. a file system without the exchange: fall back
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _publish_dir(tmp: Path, target: Path) -> None:
    """Make ``tmp`` the content of ``target`` in one step, then delete the replaced content."""
    if not target.exists():
        try:
            os.rename(tmp, target)  # atomic; fails if another writer published meanwhile
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    if exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # the old content now; a kill here leaves a
        return  # leftover of a dead writer, which the next write removes
    # No atomic exchange here: two renames, with an instant in which the target is absent.
    log.warning("%s: this file system cannot swap folders atomically; publishing in two steps",
                target)
    old = _sibling(target, _OLD)
    os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield a temporary folder; on success it becomes ``target`` in one atomic swap.

    Readers see either the old or the new content, never a mix and never nothing; if the body
    raises (or the process dies) the target is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(target)
    tmp = _sibling(target, _TMP)
    tmp.mkdir()
    try:
        yield tmp
        _publish_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_file(path: Path | str) -> Iterator[Path]:
    """Yield a temporary sibling path to write; on success it replaces ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(path)
    tmp = _sibling(path, _TMP)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_partition(table: pa.Table, target: Path | str, *, file_name: str = "part-0.parquet") -> Path:
    """Write one parquet file and a success marker as a complete, atomically published partition."""
    with atomic_dir(target) as tmp:
        # No statistics timestamps or writer-dependent metadata vary between runs: same input,
        # same bytes.
        pq.write_table(table, tmp / file_name, compression="zstd", write_statistics=True)
        (tmp / SUCCESS_MARKER).touch()
    return Path(target)


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Write a text file through a temporary sibling and a rename."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: Path | str, payload: Any) -> Path:
    """Write ``payload`` as indented JSON, atomically."""
    return write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def publish_dataframe(df, target: Path | str, sort_by: list[str] | None = None) -> Path:
    """Write a Spark DataFrame as one complete partition folder, replacing ``target`` atomically.

    One sorted file per partition: feature partitions are small, and a fixed order makes a re-run
    write the same rows in the same order.
    """
    target = Path(target)
    with atomic_dir(target) as tmp:
        out = df.coalesce(1)
        if sort_by:
            out = out.sortWithinPartitions(*sort_by)
        out.write.mode("overwrite").parquet(str(tmp / "data"))
        # Spark names files with a random id; fixed names keep re-runs identical.
        files = sorted(f for f in (tmp / "data").iterdir() if f.suffix == ".parquet")
        for i, file in enumerate(files):
            os.replace(file, tmp / f"part-{i}.parquet")
        shutil.rmtree(tmp / "data")
        (tmp / SUCCESS_MARKER).touch()
    return target
