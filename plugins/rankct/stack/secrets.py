"""The stack's secrets: from the environment when set there, else generated once and kept in
``<stack home>/secrets.json``, readable by its owner only (mode 0600). Nothing in the repository
holds a password: the MLflow admin's, the keys that sign Airflow's tokens and MLflow's sessions,
and Evidently's write secret are all made on this machine.
"""

from __future__ import annotations

import json
import os
import secrets as random
from pathlib import Path

from rankct.errors import RankctError

# name in the file -> environment variable that overrides it (Compose's .env names).
SECRET_ENV = {
    "mlflow_admin_user": "MLFLOW_ADMIN_USER",
    "mlflow_admin_password": "MLFLOW_ADMIN_PASSWORD",
    "mlflow_secret_key": "MLFLOW_SECRET_KEY",
    "airflow_admin_password": "AIRFLOW_ADMIN_PASSWORD",
    "airflow_jwt_secret": "AIRFLOW_JWT_SECRET",
    "airflow_secret_key": "AIRFLOW_SECRET_KEY",
    "evidently_secret": "EVIDENTLY_SECRET",
}


def secrets_file(home: Path) -> Path:
    return home / "secrets.json"


def _generate(name: str) -> str:
    return "admin" if name == "mlflow_admin_user" else random.token_urlsafe(24)


def load_secrets(home: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Every secret of the stack; generated (and kept, mode 0600) where neither the
    environment nor the file has it."""
    environ = dict(os.environ if environ is None else environ)
    path = secrets_file(home)
    kept: dict[str, str] = {}
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise RankctError(f"{path} is readable by other users",
                              hint=f"chmod 600 {path} (it holds the stack's passwords)")
        kept = json.loads(path.read_text())
    missing = [name for name in SECRET_ENV if name not in kept]
    if missing:
        kept.update({name: _generate(name) for name in missing})
        home.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(kept, out, indent=2)
        os.replace(temporary, path)
    return {name: environ.get(env) or kept[name] for name, env in SECRET_ENV.items()}
