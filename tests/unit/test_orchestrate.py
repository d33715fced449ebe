"""The run behind `make run`: the state folder it may wipe, how it judges the days, the
environment its Airflow processes get."""

from __future__ import annotations

import json
from datetime import date

import pytest
from rankct.config import load_config
from rankct.errors import RankctError
from rankct.orchestrate.demo import DEMO_MARKER, _exit_code, link_raw_data, reset_home
from rankct.orchestrate.environment import airflow_environment


@pytest.fixture
def cfg(tmp_path):
    return load_config("local", environ={"RANKCT_HOME": str(tmp_path / "home")})


def test_a_fresh_demo_wipes_only_a_folder_it_made(cfg) -> None:
    reset_home(cfg)  # missing: created and marked
    (cfg.home / "mlflow").mkdir()
    reset_home(cfg)  # marked: emptied
    assert sorted(p.name for p in cfg.home.iterdir()) == [DEMO_MARKER]
    (cfg.home / DEMO_MARKER).unlink()
    (cfg.home / "precious").write_text("user state")
    with pytest.raises(RankctError, match="did not create"):
        reset_home(cfg)
    assert (cfg.home / "precious").exists()


def test_exit_code_requires_the_bad_day_stopped_and_no_failure() -> None:
    bad = date(2026, 11, 10)
    ok = [{"day": "2026-11-09", "state": "promoted"},
          {"day": "2026-11-10", "state": "stopped at data gate 1"},
          {"day": "2026-11-11", "state": "rejected"}]
    assert _exit_code({"outcomes": ok}, bad) == 0
    assert _exit_code({"outcomes": ok[:1] + ok[2:]}, bad) == 1  # the bad day got through
    failed = [*ok, {"day": "2026-11-12", "state": "failed"}]
    assert _exit_code({"outcomes": failed}, bad) == 1
    assert _exit_code({"outcomes": ok}, None) == 3  # a gate stopped real data: look at it


def test_own_data_is_linked_not_copied(cfg, tmp_path) -> None:
    with pytest.raises(RankctError, match="no raw/ folder"):
        link_raw_data(cfg, tmp_path)
    (tmp_path / "mine" / "raw").mkdir(parents=True)
    link_raw_data(cfg, tmp_path / "mine")
    link_raw_data(cfg, tmp_path / "mine")  # idempotent
    assert (cfg.data_root / "raw").resolve() == (tmp_path / "mine" / "raw").resolve()
    (tmp_path / "other" / "raw").mkdir(parents=True)
    with pytest.raises(RankctError, match="already holds other data"):
        link_raw_data(cfg, tmp_path / "other")


def test_airflow_environment_keeps_state_under_home_and_names_the_spark_master(cfg) -> None:
    env = airflow_environment(cfg, environ={"PATH": "/usr/bin"})
    assert env["AIRFLOW_HOME"] == str(cfg.home / "airflow")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")
    assert json.loads(env["AIRFLOW_CONN_RANKCT_SPARK"]) == {"conn_type": "spark",
                                                           "host": "local[*]"}
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    # A production metadata database named by the caller wins.
    prod = airflow_environment(cfg, environ={
        "PATH": "/usr/bin", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://x/af"})
    assert prod["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://x/af"


class _OneTaskApi:
    """The one call RunWatcher.look makes, answering one task in ``state``."""

    def __init__(self, state: str) -> None:
        self.state = state

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return [{"task_id": "train", "state": self.state, "start_date": None, "try_number": 2}]


def test_a_running_task_is_progress_and_nothing_running_is_a_stall(tmp_path) -> None:
    """`rankct run --profile prod` gives up only when no task runs or changes state for the
    stall time: a long task is not a stall, a queue nobody takes from is."""
    import io
    import time

    from rankct.orchestrate.run import Progress
    from rankct.orchestrate.scheduler_run import RunWatcher, SchedulerStalled

    api, lines = _OneTaskApi("running"), io.StringIO()
    watcher = RunWatcher(api, tmp_path, Progress(lines), stall_seconds=0.2)
    run, day = {"dag_run_id": "backfill__x"}, date(2026, 11, 4)
    for _ in range(3):  # longer than the stall time, running all along
        watcher.look("ranker_continuous_training", run, day)
        time.sleep(0.1)
        watcher.check_stall("the run of 2026-11-04")
    assert lines.getvalue().count("running (try 2)") == 1  # said once, when it changed
    api.state = "queued"
    watcher.look("ranker_continuous_training", run, day)
    time.sleep(0.3)
    with pytest.raises(SchedulerStalled, match="no task ran or changed state for 0 s while "
                                               "waiting for the run of 2026-11-04"):
        watcher.check_stall("the run of 2026-11-04")
