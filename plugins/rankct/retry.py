"""Telling a service that is down from a request that is wrong, and retrying only the first.

A database that refuses connections, a SQLite file locked by another writer, a Redis that is
restarting or an MLflow server answering 503 may work a moment later; a missing alias, a bad
URI or bad data will not. :func:`is_transient` reads the exception chain (drivers' errors come
wrapped by SQLAlchemy and MLflow) and :func:`with_retries` retries transient failures with
exponential backoff, then raises :class:`rankct.errors.ServiceUnavailable`, which orchestrators
retry again later. Anything else propagates at once, unchanged.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from rankct.errors import ServiceUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

# Exception types (module, class name) that mean "the service did not answer". They are looked
# up among the modules already imported: an exception of a type can only exist once its module
# is loaded, and checking never imports a driver.
_TRANSIENT_TYPES = (
    ("sqlalchemy.exc", "OperationalError"),  # refused connection, locked SQLite, server gone
    ("sqlalchemy.exc", "InterfaceError"),
    ("sqlalchemy.exc", "DisconnectionError"),
    ("sqlalchemy.exc", "TimeoutError"),  # the connection pool is exhausted
    ("sqlite3", "OperationalError"),
    ("psycopg2", "OperationalError"),
    ("requests.exceptions", "ConnectionError"),
    ("requests.exceptions", "Timeout"),
    # A server that kept answering 429/5xx through the client's own retries (MLflow's REST
    # client retries those, then raises with this in its chain): its backend is down.
    ("requests.exceptions", "RetryError"),
    ("redis.exceptions", "ConnectionError"),
    ("redis.exceptions", "TimeoutError"),
    ("redis.exceptions", "BusyLoadingError"),
)
# A driver error of a transient type whose message says the request itself is wrong: trying
# again cannot help (a wrong password, a database or role that does not exist).
_PERMANENT_MARKERS = ("password authentication failed", "does not exist", "no pg_hba.conf",
                      "authentication failed", "access denied")
# MLflow's error codes for an unavailable backend (a 503 from a server, a locked database).
_TRANSIENT_MLFLOW_CODES = frozenset({"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure."""

    attempts: int = 3  # tries in all, the first included
    backoff_seconds: float = 1.0  # wait before the second try; doubled after each one


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says a service did not answer, rather than no."""
    if any(marker in str(link).lower() for link in _chain(exc) for marker in _PERMANENT_MARKERS):
        return False
    for link in _chain(exc):
        if isinstance(link, ServiceUnavailable | ConnectionError | TimeoutError):
            return True
        if getattr(link, "error_code", None) in _TRANSIENT_MLFLOW_CODES:
            return True
        for module, name in _TRANSIENT_TYPES:
            kind = getattr(sys.modules.get(module), name, None)
            if isinstance(kind, type) and isinstance(link, kind):
                return True
    return False


def with_retries(call: Callable[[], T], *, what: str, policy: RetryPolicy = RetryPolicy(),
                 hint: str = "check that the service is up, then run the task again",
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, retried on transient failures; :class:`ServiceUnavailable` naming ``what``
    once every attempt failed. Other errors propagate from the first attempt."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except ServiceUnavailable:
            raise  # retried already, further down
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt == policy.attempts:
                raise ServiceUnavailable(
                    f"{what} failed {policy.attempts} time(s), the service did not answer: "
                    f"{_first_line(exc)}", hint=hint) from exc
            wait = policy.backoff_seconds * 2 ** (attempt - 1)
            log.warning("%s: attempt %d of %d failed (%s); retrying in %.1fs", what, attempt,
                        policy.attempts, _first_line(exc), wait)
            sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
