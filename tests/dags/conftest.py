"""An Airflow environment for parsing the DAGs: rankct's own (the one `rankct run` uses), with
its home in a temporary folder so the tests never touch ~/airflow. It is applied to this
process only while the DagBag is built: later tests (the e2e runs) start Airflow processes
with their own environment."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from rankct.config import load_config
    from rankct.orchestrate.environment import airflow_environment

    home = tmp_path_factory.mktemp("dags_home")
    return airflow_environment(load_config("local", environ={"RANKCT_HOME": str(home)}))


@pytest.fixture(scope="session")
def dagbag(airflow_env):
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in airflow_env.items() if k.startswith(("AIRFLOW", "RANKCT"))})
    try:
        from airflow.dag_processing.dagbag import DagBag

        return DagBag(dag_folder=airflow_env["AIRFLOW__CORE__DAGS_FOLDER"], include_examples=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
