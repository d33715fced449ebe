"""An Airflow environment for parsing the DAGs: rankct's own (the one `rankct run` uses), with
its home in a temporary folder so the tests never touch ~/airflow."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from rankct.config import load_config
    from rankct.orchestrate.environment import airflow_environment

    home = tmp_path_factory.mktemp("dags_home")
    env = airflow_environment(load_config("local", environ={"RANKCT_HOME": str(home)}))
    os.environ.update({k: v for k, v in env.items() if k.startswith(("AIRFLOW", "RANKCT"))})
    return env


@pytest.fixture(scope="session")
def dagbag(airflow_env):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=airflow_env["AIRFLOW__CORE__DAGS_FOLDER"], include_examples=False)
