"""Any date range: the real DAGs run their tasks for a logical date of 1998, and a DAG run in
which Airflow ran no task at all (it calls such a run a success) is a failure that `rankct run`
names. Each is a real `airflow dags test` process."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# A training DAG that cannot run before 2030: what the real ones were for data before their
# start_date.
NOT_BEFORE_2030 = '''
import pendulum
from airflow.sdk import dag, task


@dag(dag_id="ranker_continuous_training", schedule="@daily", catchup=False,
     start_date=pendulum.datetime(2030, 1, 1, tz="UTC"))
def not_before_2030():
    @task
    def validate_raw_data():
        return 1

    validate_raw_data()


not_before_2030()
'''


def _environment(home: Path, dags: Path | None = None) -> dict[str, str]:
    import os

    from rankct.config import load_config
    from rankct.orchestrate.environment import airflow_environment

    extra = {"AIRFLOW__CORE__DAGS_FOLDER": str(dags)} if dags else {}
    extra["RANKCT_RETRY_DELAY_SECONDS"] = "1"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RANKCT"))}
    return airflow_environment(load_config("local", environ={"RANKCT_HOME": str(home)}),
                               {**env, **extra, "RANKCT_HOME": str(home)})


def test_the_dags_run_their_tasks_for_1998(tmp_path) -> None:
    from rankct.orchestrate.airflow_cli import dags_test, migrate

    env = _environment(tmp_path / "home")
    migrate(env, tmp_path / "migrate.log")
    result = dags_test("ranker_monitoring", date(1998, 3, 2), env, tmp_path / "logs")
    assert not result.ran_nothing
    # No data exists for 1998: every check ran and failed at once, saying what is missing.
    states = {task.task_id: task.state for task in result.tasks}
    assert set(states.values()) == {"failed"}, states
    log = result.log.read_text()
    assert "raw_freshness failed for 1998-03-02: no complete impressions partition" in log
    assert "FileNotFoundError" not in log


def test_a_run_in_which_no_task_ran_is_a_failure_rankct_run_names(tmp_path) -> None:
    from rankct.config import load_config
    from rankct.orchestrate.airflow_cli import dags_test, migrate
    from rankct.orchestrate.run import Progress, day_outcome

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "not_before_2030.py").write_text(NOT_BEFORE_2030)
    home = tmp_path / "home"
    env = _environment(home, dags)
    migrate(env, tmp_path / "migrate.log")
    config = load_config("local", environ={"RANKCT_HOME": str(home)})
    result = dags_test("ranker_continuous_training", date(2026, 11, 5), env, tmp_path / "logs")
    outcome = day_outcome(config, result, Progress(open(tmp_path / "progress.txt", "w")))  # noqa: SIM115
    assert result.ran_nothing and result.tasks == []
    assert "Marking run" in result.log.read_text()  # Airflow itself called it a success...
    assert result.state == "failed"                 # ...rankct does not
    assert outcome["state"] == "failed"
    assert "no task of ranker_continuous_training ran for 2026-11-05" in outcome["detail"]
