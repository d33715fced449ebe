"""The production profile through its scheduler: a private stack (``rankct stack up --profile
prod``: Spark standalone master and workers, Airflow on this machine's PostgreSQL with the
CeleryExecutor and two Celery workers on a Redis broker, the MLflow server behind basic auth,
Feast on this machine's Redis), then ``rankct run --profile prod`` over the days of the tiny
market the local e2e run uses: the first three days' history is the local e2e
run's outputs (their data gate verdicts and feature partitions, computed on this same data;
tests/integration/test_spark_connect.py shows the stack's Connect path computes the same bytes),
registered and materialized into the stack's Feast, then the scheduler runs the fourth
(trained) and the fifth (damaged, stopped at data gate 1).

While it runs, the Celery worker running the fourth day's feature job is killed with its
whole process group (a worker host lost mid-task): the scheduler finds the task without a
heartbeat, retries it on the other worker, and the day's outputs are complete: the model
trained on the retried task's features is the local run's champion, byte for byte.

What it shows: the scheduler ran a backfill of the range (no ``airflow dags test``); the days
end as the local profile's did on the same data, and the champion the scheduler's run
registered is byte for byte the local one; the batch-scoring run was started by the champion
Asset's event; MLflow's server answers the champion alias over REST; the tasks' Spark work ran on
the stack's Connect server (one application on the master), batch scoring's in an application
of its own. The stack, its databases and its Redis dbs go after.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import START
from tests.e2e.conftest import BAD_DAY, DAYS, config_environment, training_days
from tests.services import announce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RANKCT = str(Path(sys.executable).parent / "rankct")
PROD_DAYS = DAYS[:5]  # three warm-up days, a trained day, the damaged day
# The warm-up days are the local run's: through the scheduler each ran the same tasks as the
# trained day's first five (a minute or more of the suite), and computing them again on the
# stack's Connect server took 90 s more.
PREPARED, SCHEDULED = PROD_DAYS[:3], PROD_DAYS[3:]
TRAINING_DAG = "ranker_continuous_training"
KILLED = ("build_features", SCHEDULED[0])  # the task whose Celery worker is killed, its day
# Seconds without a heartbeat before the scheduler retries a task: six of the task
# supervisor's heartbeats ([workers] min_heartbeat_interval, 5 s), so a busy machine's late
# beat is not taken for a lost worker.
HEARTBEAT_TIMEOUT = 30


def _get_json(url: str, login: tuple[str, str] | None = None) -> dict:
    request = urllib.request.Request(url)
    if login:
        token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def _stack_settings(env: dict[str, str]):
    """The settings of the stack recorded for ``env`` (its ports, its folder)."""
    from rankct.config import load_config
    from rankct.stack.control import recorded_settings
    from rankct.stack.settings import load_settings

    return recorded_settings(load_settings(load_config("prod", environ=env), environ=env))


def _stack_api(env: dict[str, str]):
    """The API client of the stack recorded for ``env``, logged in."""
    from rankct.stack.airflow_api import stack_api

    return stack_api(_stack_settings(env))


def _ancestors(pid: int) -> list[int]:
    """``pid`` and its parents, from /proc."""
    chain = []
    while pid > 1 and Path(f"/proc/{pid}/stat").exists():
        chain.append(pid)
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])
    return chain


def _kill_the_worker_running(env: dict[str, str], task_id: str, day, seen: dict,
                             stop: threading.Event) -> None:
    """Wait until ``task_id`` of ``day``'s training run is running, then SIGKILL the process
    group of the Celery worker it runs under (the worker, its pool, the task's supervisor and
    process, their Spark driver). Records what it killed in ``seen``."""
    from rankct.stack import processes

    workers = {entry["pid"]: entry["name"] for entry in processes.read_state(
        _stack_settings(env).home)["services"] if entry["name"].startswith("airflow-worker")}
    api = _stack_api(env)
    while not stop.wait(1.0):
        try:
            runs = [r for r in api.dag_runs(TRAINING_DAG)
                    if r["logical_date"][:10] == day.isoformat()]
            tasks = {t["task_id"]: t for run in runs
                     for t in api.task_instances(TRAINING_DAG, run["dag_run_id"])}
        except Exception as exc:  # noqa: BLE001 - the API server starting; look again
            seen["errors"] = seen.get("errors", 0) + 1
            seen["last_error"] = str(exc)
            continue
        task = tasks.get(task_id)
        if not task or task["state"] != "running" or not task.get("pid"):
            continue
        owner = next((pid for pid in _ancestors(task["pid"]) if pid in workers), None)
        if owner is None:
            seen["unowned_pid"] = task["pid"]
            continue
        os.killpg(owner, signal.SIGKILL)
        seen.update(worker=workers[owner], pid=owner, task_pid=task["pid"],
                    try_number=task["try_number"])
        return


# The warm-up tasks of a day after its features (Feast's apply, materialization into the
# stack's Redis, check_history recording the warm-up outcome), as the training DAG runs them, in
# one process on the stack's profile.
_PREPARE = """
import sys
from datetime import date

from rankct.config import load_config
from rankct.errors import StageSkipped
from rankct.pipeline import prepare
from tests.e2e.conftest import register_history

config = load_config("prod")
days = [date.fromisoformat(d) for d in sys.argv[1:]]
register_history(config, days)
for day in days:
    try:
        prepare.check_history(config, day)
    except StageSkipped:
        pass
"""


def _copy_prepared_days(local, prod, days) -> None:
    """The data gate verdicts and feature partitions of ``days`` from the local run's home
    ``local`` to the prod profile's ``prod`` (the same raw data): what the warm-up days'
    first tasks would compute again."""
    import shutil

    partitions = [f"dt={day.isoformat()}" for day in days]
    for source in local.data_root.joinpath("features").rglob("dt=*"):
        if source.name in partitions:
            shutil.copytree(source, prod.data_root / source.relative_to(local.data_root))
    for name in partitions:
        shutil.copytree(local.reports_dir / "data_gate" / name,
                        prod.reports_dir / "data_gate" / name)


def _stack_client_env(env: dict[str, str]) -> dict[str, str]:
    """What ``rankct stack env`` exports for the stack of ``env``."""
    exported = subprocess.run([RANKCT, "stack", "env"], env=env, capture_output=True, text=True,
                              check=True).stdout.splitlines()
    return {k: v.strip("'") for k, v in (line.removeprefix("export ").split("=", 1)
                                         for line in exported)}


def _prepare_history(env: dict[str, str], days) -> None:
    """``days``' warm-up stages after the features on the stack's profile (Feast's Redis db,
    the stack's MLflow), as a client of the stack."""
    root = Path(__file__).resolve().parents[2]
    client = {**env, **_stack_client_env(env),
              "PYTHONPATH": os.pathsep.join([str(root / "plugins"), str(root)])}
    prepared = subprocess.run([sys.executable, "-c", _PREPARE, *map(str, days)], env=client,
                              cwd=root, capture_output=True, text=True, timeout=600,
                              check=False)
    assert prepared.returncode == 0, prepared.stdout[-3000:] + prepared.stderr[-6000:]


def _flush_own_redis_dbs() -> None:
    """Empty the two databases of the local Redis that this test's stack alone uses (Feast 13,
    Celery's broker 14): a message the killed worker never acknowledged would otherwise be
    handed to a later run's workers once its visibility timeout passed."""
    import redis

    for db in (13, 14):
        redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()


@pytest.fixture(scope="module")
def prod_run(end_to_end, tmp_path_factory):
    """The stack up, the five days simulated and run through it, the results; the stack and
    its databases removed after, whatever happened."""
    from rankct.simulate import simulate

    home = tmp_path_factory.mktemp("prod_home")
    local = config_environment(end_to_end.config)
    env = {**os.environ, **{k: v for k, v in local.items()
                            if k.startswith(("RANKCT__PIPELINE", "RANKCT__GATE", "RANKCT__TRAINING",
                                             "RANKCT__MONITORING", "RANKCT_RETRY"))},
           "RANKCT_HOME": str(home), "RANKCT_STACK_DB_SUFFIX": "_e2e" + uuid.uuid4().hex[:8],
           "RANKCT_STACK_FEAST_REDIS_DB": "13", "RANKCT_PROFILE": "prod",
           "RANKCT_STACK_EXECUTOR": "celery", "RANKCT_STACK_BROKER_REDIS_DB": "14",
           # The replay's last day: the scheduler starts no run of today's interval.
           "RANKCT_SCHEDULE_END": PROD_DAYS[-1].isoformat()}
    for key in [k for k in env if k.startswith(("MLFLOW_", "AIRFLOW_", "AIRFLOW__", "SPARK_REMOTE",
                                                "RANKCT__SPARK__REMOTE"))]:
        env.pop(key)
    # A killed worker's task is found without a heartbeat after this (default: 5 minutes).
    env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"] = str(HEARTBEAT_TIMEOUT)
    simulate(home / "data", days=len(DAYS), scale="tiny", seed=11, start=START,
             faults={"events_before_impression": BAD_DAY.isoformat()})
    from rankct.config import load_config

    _copy_prepared_days(end_to_end.config, load_config("prod", environ=env), PREPARED)
    _flush_own_redis_dbs()  # an earlier run's killed worker left an unacknowledged message
    try:
        up = subprocess.run([RANKCT, "stack", "up", "--free-ports", "--timeout", "400"],
                            env=env, capture_output=True, text=True, timeout=600, check=False)
        assert up.returncode == 0, up.stdout + up.stderr
        _prepare_history(env, PREPARED)
        killed: dict = {}
        stop = threading.Event()
        killer = threading.Thread(target=_kill_the_worker_running,
                                  args=(env, *KILLED, killed, stop), daemon=True)
        killer.start()
        began = time.monotonic()
        run = subprocess.run([RANKCT, "run", "--from", SCHEDULED[0].isoformat(),
                              "--to", SCHEDULED[-1].isoformat()], env=env, capture_output=True,
                             text=True, timeout=2400, check=False)
        seconds = time.monotonic() - began
        stop.set()
        killer.join(timeout=30)
        # The same range again: nothing is trained twice, scoring is not re-run, monitoring is.
        rerun = subprocess.run([RANKCT, "run", "--from", SCHEDULED[0].isoformat(),
                                "--to", SCHEDULED[-1].isoformat()], env=env,
                               capture_output=True, text=True, timeout=1200, check=False)
        client = _stack_client_env(env)
        # Exit 3 here: the killed worker is down.
        status = json.loads(subprocess.run([RANKCT, "stack", "status", "--json"], env=env,
                                           capture_output=True, text=True, check=False).stdout)
        rankct_status = subprocess.run([RANKCT, "status", "--json"], env=env,
                                       capture_output=True, text=True, check=False)
        yield {"env": env, "home": home, "run": run, "rerun": rerun, "status": status,
               "killed": killed,
               "seconds": seconds,
               "rankct_status": rankct_status,
               "client": client}
    finally:
        subprocess.run([RANKCT, "stack", "down"], env=env, timeout=180, check=False)
        _flush_own_redis_dbs()
        from rankct.stack.prepare import admin_url, drop_databases
        from rankct.stack.settings import load_settings

        drop_databases(load_settings(load_config("prod", environ=env), environ=env),
                       admin_url(env))


def test_the_scheduler_runs_the_days_as_the_local_profile_does(prod_run, end_to_end) -> None:
    run = prod_run["run"]
    # 3: a day stopped at a gate (the damaged one), every other day finished.
    assert run.returncode == 3, run.stdout[-3000:] + run.stderr[-6000:]
    assert f"{BAD_DAY}  stopped at data gate 1" in run.stdout
    assert "backfill" in run.stderr and "dags test" not in run.stderr
    local = training_days(end_to_end)
    # The same decisions, read back from each home's records of the day.
    from rankct.config import load_config
    from rankct.pipeline.day import DayRun
    from rankct.pipeline.outcome import Outcome

    prod_config = load_config("prod", environ=prod_run["env"])
    for day in PROD_DAYS[3:]:
        prod_outcome, local_outcome = (DayRun(prod_config, day).outcome(), local[day])
        assert prod_outcome["state"] == local_outcome["state"], (day, prod_outcome)
        assert prod_outcome.get("version") == local_outcome.get("version")
    for day in PROD_DAYS[:3]:
        assert DayRun(prod_config, day).outcome()["state"] == Outcome.WARM_UP
    assert prod_run["rankct_status"].returncode == 0, prod_run["rankct_status"].stderr
    champion = json.loads(prod_run["rankct_status"].stdout)["champion"]
    assert str(champion["version"]) == str(local[PROD_DAYS[3]]["version"])


def test_the_champion_is_the_local_ones_bytes_and_mlflow_serves_its_alias(prod_run,
                                                                         end_to_end) -> None:
    from rankct.config import load_config

    local = training_days(end_to_end)[PROD_DAYS[3]]
    version = local["version"]
    client = prod_run["client"]
    login = (client["MLFLOW_TRACKING_USERNAME"], client["MLFLOW_TRACKING_PASSWORD"])
    prod_config = load_config("prod", environ=prod_run["env"])
    alias = _get_json(f"{client['MLFLOW_TRACKING_URI']}/api/2.0/mlflow/registered-models/alias"
                      f"?name={prod_config.mlflow.registered_model}&alias=champion", login)
    assert alias["model_version"]["version"] == str(version)
    name = prod_config.mlflow.registered_model
    local_onnx = end_to_end.config.home / "exports" / name / str(version) / "model.onnx"
    prod_onnx = prod_run["home"] / "exports" / name / str(version) / "model.onnx"
    assert prod_onnx.read_bytes() == local_onnx.read_bytes()


def test_scoring_was_started_by_the_champion_asset_and_spark_ran_on_the_master(prod_run) -> None:
    api = _stack_api(prod_run["env"])
    scoring = api.dag_runs("ranker_batch_scoring")
    assert [r["run_type"] for r in scoring] == ["asset_triggered"]
    assert scoring[0]["state"] == "success"
    events = api.asset_events("ranker_batch_scoring", scoring[0]["dag_run_id"])
    assert {e["extra"]["day"] for e in events} == {PROD_DAYS[3].isoformat()}
    training = api.dag_runs("ranker_continuous_training")
    assert {r["run_type"] for r in training} == {"backfill"}  # none for today's interval
    assert len(training) == len(SCHEDULED)
    urls = {s["name"]: s["url"] for s in prod_run["status"]["services"]}
    master = _get_json(urls["spark-master"] + "/json/")
    apps = [a["name"] for a in master["completedapps"] + master["activeapps"]]
    # Every task and job attached to the stack's Connect server, one application on the master
    # for the whole run; batch scoring alone ran an application of its own.
    assert [a["name"] for a in master["activeapps"]] == ["rankct-connect"], apps
    assert [a["name"] for a in master["completedapps"]] == ["rankct-batch-score"], apps
    (server,) = _get_json(urls["spark-connect"] + "/api/v1/applications")
    jobs = _get_json(f"{urls['spark-connect']}/api/v1/applications/{server['id']}/jobs")
    # The data gate's and the feature build's jobs of each scheduled day, at least.
    assert sum(j["status"] == "SUCCEEDED" for j in jobs) >= len(SCHEDULED) * 2, jobs[:3]
    announce(f"rankct run --profile prod: {len(training)} days through the scheduler "
             f"(CeleryExecutor) in {prod_run['seconds']:.0f} s, {len(jobs)} Spark jobs on the "
             "stack's Connect server, scoring started by the champion Asset")


def test_running_the_range_again_trains_nothing_twice(prod_run) -> None:
    """A second `rankct run` over the same days: the backfill keeps every run that succeeded,
    no promotion happens so no scoring run is started, the newest day is monitored again, and
    the summary reports the same days."""
    rerun = prod_run["rerun"]
    assert rerun.returncode == 3, rerun.stdout[-3000:] + rerun.stderr[-6000:]
    table = [line for line in prod_run["run"].stdout.splitlines() if line.startswith("  2026-")]
    assert table and table == [line for line in rerun.stdout.splitlines()
                               if line.startswith("  2026-")]
    assert "cleared, its checks run again" in rerun.stderr
    api = _stack_api(prod_run["env"])
    assert len(api.dag_runs(TRAINING_DAG)) == len(SCHEDULED)
    assert len(api.dag_runs("ranker_batch_scoring")) == 1
    (monitoring,) = api.dag_runs("ranker_monitoring")
    assert monitoring["state"] == "success"
    assert {t["try_number"] for t in api.task_instances("ranker_monitoring",
                                                        monitoring["dag_run_id"])} == {2}


def test_a_killed_celery_worker_s_task_is_retried_on_the_other(prod_run) -> None:
    """The worker running the trained day's feature job was killed mid-task: the task ran
    again (try 2) and succeeded, the dead worker is reported so, the day's run succeeded."""
    killed = prod_run["killed"]
    task_id, day = KILLED
    assert killed.get("worker", "").startswith("airflow-worker-"), killed
    assert killed["try_number"] == 1
    api = _stack_api(prod_run["env"])
    (run,) = [r for r in api.dag_runs(TRAINING_DAG) if r["logical_date"][:10] == day.isoformat()]
    assert run["state"] == "success"
    task = {t["task_id"]: t for t in api.task_instances(TRAINING_DAG, run["dag_run_id"])}[task_id]
    assert (task["state"], task["try_number"]) == ("success", 2), task
    assert f"{day}  {TRAINING_DAG}.{task_id}: success (try 2)" in prod_run["run"].stderr
    services = {s["name"]: s for s in prod_run["status"]["services"]}
    assert not services[killed["worker"]]["alive"]
    assert [s["healthy"] for name, s in services.items()
            if name.startswith("airflow-worker") and name != killed["worker"]] == [True]
    announce(f"{killed['worker']} killed while it ran {task_id} of {day}; the scheduler "
             f"retried it after {HEARTBEAT_TIMEOUT} s without a heartbeat")
