"""One writer of the serving aliases at a time.

A promotion reads the champion, checks the decision against it and moves the alias; a rollback
reads two aliases and moves both. Two of them interleaved (a retried task beside an operator's
rollback) could leave ``champion`` and ``previous_champion`` naming the wrong versions, so each
runs under :func:`alias_lock`: a PostgreSQL advisory lock when the registry is a PostgreSQL
database (held by every machine that talks to it), otherwise an exclusive ``flock`` on a file in
the store's state folder (one machine, or a volume they share).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rankct.errors import ServiceUnavailable

if TYPE_CHECKING:
    from rankct.registry.store import Store

_POLL_SECONDS = 0.1


def lock_key(model_name: str) -> int:
    """The advisory-lock key of a model's aliases: a stable signed 64-bit number."""
    digest = hashlib.sha256(f"rankct.aliases:{model_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def alias_lock(store: Store) -> Iterator[None]:
    """Hold the lock of ``store``'s aliases; :class:`ServiceUnavailable` after
    ``store.lock_timeout_seconds`` of waiting for another writer."""
    if store.registry_uri.startswith("postgresql"):
        with _advisory_lock(store.registry_uri, lock_key(store.model_name),
                            store.lock_timeout_seconds):
            yield
    else:
        with _file_lock(store.state_dir / "aliases.lock", store.lock_timeout_seconds):
            yield


@contextmanager
def _file_lock(path: Path, timeout: float) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        f"another alias change has held {path} for over {timeout:g}s",
                        hint="wait for it to finish (a promotion or a rollback), then run "
                             "this again") from None
                time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _advisory_lock(uri: str, key: int, timeout: float) -> Iterator[None]:
    import sqlalchemy

    from rankct.registry.store import redact
    from rankct.retry import with_retries

    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
    try:
        connection = with_retries(engine.connect, what=f"locking the aliases on {redact(uri)}")
        try:
            deadline = time.monotonic() + timeout
            while not connection.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"),
                                         {"k": key}).scalar():
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        f"another alias change has held the advisory lock {key} on "
                        f"{redact(uri)} for over {timeout:g}s",
                        hint="wait for it to finish (a promotion or a rollback), then run "
                             "this again")
                time.sleep(_POLL_SECONDS)
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        finally:
            connection.close()
    finally:
        engine.dispose()
