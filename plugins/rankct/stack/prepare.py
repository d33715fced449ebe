"""What must exist before the stack's servers start: the PostgreSQL role and databases
(created idempotently on this machine's server), Airflow's migrated metadata, the logins of
Airflow and MLflow written from the stack's secrets."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rankct.errors import ServiceUnavailable
from rankct.stack.settings import StackSettings

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url(environ: dict[str, str] | None = None) -> str:
    """The superuser connection that creates roles and databases (trust auth here)."""
    environ = dict(os.environ if environ is None else environ)
    return environ.get("RANKCT_STACK_POSTGRES_ADMIN_URL", DEFAULT_ADMIN_URL)


def _admin(url: str):
    import psycopg2

    try:
        connection = psycopg2.connect(url, connect_timeout=5)
    except psycopg2.Error as exc:
        raise ServiceUnavailable(f"PostgreSQL did not accept {url}: {str(exc).strip()}",
                                 hint="start this machine's PostgreSQL or set "
                                      "RANKCT_STACK_POSTGRES_ADMIN_URL") from None
    connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    return connection


def ensure_databases(settings: StackSettings, url: str) -> list[str]:
    """Create the stack's role and its two databases where missing; the names created."""
    from psycopg2 import errors, sql

    created = []
    connection = _admin(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                           (settings.postgres_user,))
            if cursor.fetchone() is None:
                try:
                    cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(
                        sql.Identifier(settings.postgres_user)))
                    created.append(f"role {settings.postgres_user}")
                except (errors.DuplicateObject, errors.UniqueViolation):
                    pass  # another stack on this server created it since the check: it exists
            for database in (settings.airflow_db, settings.mlflow_db):
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if cursor.fetchone() is None:
                    cursor.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(database), sql.Identifier(settings.postgres_user)))
                    created.append(f"database {database}")
    finally:
        connection.close()
    return created


def drop_databases(settings: StackSettings, url: str) -> None:
    """Drop the stack's two databases (tests, on their suffixed names); the role stays."""
    from psycopg2 import sql

    connection = _admin(url)
    try:
        with connection.cursor() as cursor:
            for database in (settings.airflow_db, settings.mlflow_db):
                cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(database)))
    finally:
        connection.close()


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(temporary, path)


def write_logins(settings: StackSettings, secrets: dict[str, str]) -> None:
    """Airflow's admin login (its simple auth manager's file) and MLflow's basic-auth
    configuration: READ for every user but the admin, users kept under the stack's home."""
    _write_private(settings.home / "airflow" / "passwords.json",
                   json.dumps({"admin": secrets["airflow_admin_password"]}))
    users = settings.home / "mlflow" / "basic_auth.db"
    _write_private(settings.home / "mlflow" / "basic_auth.ini", "\n".join([
        "[mlflow]",
        "default_permission = READ",
        f"database_uri = sqlite:///{users}",
        f"admin_username = {secrets['mlflow_admin_user']}",
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
        "grant_default_workspace_access = false",
        ""]))


def migrate_airflow(env: dict[str, str], log: Path) -> None:
    """``airflow db migrate`` on the stack's metadata database (idempotent)."""
    from rankct.orchestrate.airflow_cli import migrate

    migrate(env, log)
