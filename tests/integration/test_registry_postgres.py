"""The production registry backend: MLflow's tracking store and registry on PostgreSQL.

Uses the PostgreSQL this machine runs on 127.0.0.1:5432 (trust auth), in a fresh database per run
that is dropped afterwards. A missing server fails the test, naming it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from rankct.config import GateConfig
from rankct.errors import RankctError
from rankct.registry import champion_version, open_store, promote, record_decision, rollback

from tests.services import announce
from tests.unit.test_gate import synthetic_requests, train_ranker
from tests.unit.test_registry import register

HOST, PORT = "127.0.0.1", 5432


def _admin_connection():
    import psycopg2

    errors = []
    for user in ("postgres", "root"):
        try:
            connection = psycopg2.connect(host=HOST, port=PORT, user=user, dbname="postgres",
                                          connect_timeout=5)
        except psycopg2.OperationalError as exc:
            errors.append(f"{user}: {str(exc).strip()}")
            continue
        connection.autocommit = True
        return connection, user
    raise RuntimeError(
        f"no PostgreSQL for the MLflow registry test on {HOST}:{PORT} ({'; '.join(errors)}); "
        "start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")


@pytest.fixture(scope="module")
def postgres_uri() -> Iterator[str]:
    """A fresh, empty database; dropped (with any open connections) after the module."""
    connection, user = _admin_connection()
    name = f"rankct_mlflow_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    announce(f"MLflow registry test uses the local PostgreSQL service at {HOST}:{PORT}, "
             f"database {name}")
    try:
        yield f"postgresql+psycopg2://{user}@{HOST}:{PORT}/{name}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.close()


def test_register_promote_and_rollback_on_postgres(config, tmp_path_factory, postgres_uri):
    cfg = config.model_copy(deep=True)
    cfg.home = tmp_path_factory.mktemp("registry_pg_home")
    cfg.mlflow.tracking_uri = postgres_uri
    cfg.gate = GateConfig(min_ndcg=0.1)
    store = open_store(cfg)
    assert store.tracking_uri == postgres_uri

    train = synthetic_requests(150, seed=1)
    data = {"train": train, "test": synthetic_requests(60, seed=2),
            "first": train_ranker(train, rounds=2), "second": train_ranker(train)}
    first, second = register(store, data, "first"), register(store, data, "second")
    assert second.version == str(int(first.version) + 1)
    for version in (first, second):
        record_decision(store, version.version, True, [])
        promote(store, version.version)
    assert champion_version(store) == second.version
    aliases = store.client.get_registered_model(store.model_name).aliases
    assert {alias: str(version) for alias, version in aliases.items()} == {"champion": second.version, "previous_champion": first.version,
                       "challenger": second.version}

    assert rollback(store) == first.version
    assert champion_version(store) == first.version
    with pytest.raises(RankctError, match="no previous champion"):
        rollback(store)


def test_alias_changes_hold_a_postgres_advisory_lock(config, tmp_path_factory, postgres_uri):
    """Another writer (here: a session holding the model's advisory lock, as a promotion on
    another machine would) makes a rollback wait, then give up with the champion untouched."""
    import psycopg2
    from rankct.errors import ServiceUnavailable
    from rankct.registry.history import read_history
    from rankct.registry.lock import lock_key

    cfg = config.model_copy(deep=True)
    cfg.home = tmp_path_factory.mktemp("registry_pg_lock")
    cfg.mlflow.tracking_uri = postgres_uri
    cfg.mlflow.lock_timeout_seconds = 1.5
    store = open_store(cfg)
    champion = champion_version(store)
    other = psycopg2.connect(postgres_uri.replace("postgresql+psycopg2", "postgresql"))
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (lock_key(store.model_name),))
        with pytest.raises(ServiceUnavailable, match="advisory lock"):
            promote(store, champion)
        with pytest.raises(ServiceUnavailable, match="advisory lock"):
            rollback(store)
    finally:
        other.close()  # the session ends: PostgreSQL releases its lock
    assert champion_version(store) == champion
    # Free again: the same promotion goes through (a no-op on the champion itself).
    assert promote(store, champion) is None or champion_version(store) == champion
    assert read_history(store.state_dir) == []  # nothing moved in this home


def test_unreachable_store_is_an_outage_naming_it(config, tmp_path_factory):
    from rankct.errors import ServiceUnavailable

    cfg = config.model_copy(deep=True)
    cfg.home = tmp_path_factory.mktemp("registry_pg_down")
    cfg.mlflow.tracking_uri = "postgresql+psycopg2://rankct:secret@127.0.0.1:1/mlflow"
    cfg.mlflow.retry_backoff_seconds = 0.05
    with pytest.raises(ServiceUnavailable,
                       match=r"rankct:\*\*\*@127.0.0.1:1/mlflow failed 3 time\(s\)"):
        open_store(cfg)
