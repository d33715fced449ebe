"""The environment every Airflow process of rankct runs with.

Airflow's state lives under ``<home>/airflow`` like the rest of rankct's (SQLite metadata on the
embedded profile; ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` from the caller's environment wins, as
in production). DAGs come from ``dags/``, the library from ``plugins/``, the Spark master from
the ``rankct_spark`` connection, built from the profile's ``spark.master``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from rankct.config import REPO_ROOT, RankctConfig

AIRFLOW_ADMIN = "admin"


def airflow_home(config: RankctConfig) -> Path:
    return config.home / "airflow"


def passwords_file(config: RankctConfig) -> Path:
    """The Airflow UI's login of the local profile (Airflow's simple auth manager reads it)."""
    return airflow_home(config) / "simple_auth_manager_passwords.json"


def metadata_uri(config: RankctConfig, environ: dict[str, str] | None = None) -> str:
    """The Airflow metadata database: the environment's, or SQLite under the home."""
    environ = os.environ if environ is None else environ
    return environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or (
        f"sqlite:///{(airflow_home(config) / 'airflow.db').resolve()}")


def airflow_environment(config: RankctConfig,
                        environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) with everything rankct's Airflow needs."""
    env = dict(os.environ if environ is None else environ)
    home = airflow_home(config)
    home.mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)
    defaults = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # A real login even locally: one admin whose password rankct generates (rankct.
        # orchestrate.ui.airflow_login); production sets its own auth manager.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{AIRFLOW_ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(config)),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_uri(config, env),
        "AIRFLOW_CONN_RANKCT_SPARK": json.dumps({"conn_type": "spark",
                                                 "host": config.spark.master}),
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": google_cloud_connection(config),
        # The spark-submit of this environment, and its Python for the driver and the workers.
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    env.update({
        "AIRFLOW_HOME": str(home),
        "RANKCT_HOME": str(config.home),
        "RANKCT_PROFILE": config.profile,
        "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
        # Tasks import the library from plugins/ too, as Airflow workers do.
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT / "plugins"),
                                                  env.get("PYTHONPATH", "")) if p),
    })
    return env


def google_cloud_connection(config: RankctConfig) -> str:
    """``google_cloud_default`` where the environment defines none: the profile's project and
    Application Default Credentials; anonymous where the profile names an endpoint, as the
    library's own clients are (rankct.gcp.clients)."""
    gcp = config.gcp
    extra = {**({"project": gcp.project} if gcp.project else {}),
             **({"is_anonymous": True} if gcp.bigquery_endpoint or gcp.storage_endpoint else {})}
    return json.dumps({"conn_type": "google_cloud_platform", "extra": extra})
