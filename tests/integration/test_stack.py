"""``rankct stack up --profile prod`` for real, on a private home, free ports and databases of
its own (dropped after): every service healthy, MLflow refusing a request without its login
and answering with it, the Spark master listing two ALIVE workers, a client's query run by the
stack's Spark Connect server on them, Airflow's scheduler healthy
and running a task of a DAG run created over the API server; then ``down`` leaves none of the recorded processes running. Cleans up even when it fails."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.services import announce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RANKCT = str(Path(sys.executable).parent / "rankct")


def _get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def _a_task_runs_through_the_scheduler(env: dict[str, str]) -> None:
    """A monitoring run created over the API server is run by the scheduler's executor: its
    first check starts on a stack without data and fails with rankct's message (not an
    authentication or execution-API error), recorded in the task's log."""
    import time

    from rankct.config import load_config
    from rankct.stack.airflow_api import FINISHED, stack_api
    from rankct.stack.control import recorded_settings
    from rankct.stack.settings import load_settings

    settings = recorded_settings(load_settings(load_config("prod", environ=env), environ=env))
    api = stack_api(settings)
    api.wait_for_dag("ranker_monitoring")
    api.set_paused("ranker_monitoring", False)
    try:
        run_id = api.trigger("ranker_monitoring", "2026-11-03T00:00:00Z")
        deadline = time.monotonic() + 300
        while (api.task_states("ranker_monitoring", run_id).get("raw_freshness")
               not in FINISHED) and time.monotonic() < deadline:
            time.sleep(3)
        assert api.task_states("ranker_monitoring", run_id)["raw_freshness"] == "failed"
    finally:
        api.set_paused("ranker_monitoring", True)
    logs = list((settings.home / "airflow" / "logs").glob(
        "dag_id=ranker_monitoring/run_id=manual__*/task_id=raw_freshness/attempt=1.log"))
    assert logs and "no complete impressions partition" in logs[0].read_text()


@pytest.fixture
def stack_env(tmp_path):
    """The environment of a private stack, and its removal (processes, databases) after."""
    suffix = "_t" + uuid.uuid4().hex[:8]
    env = {**os.environ, "RANKCT_HOME": str(tmp_path / "home"),
           "RANKCT_STACK_DB_SUFFIX": suffix, "RANKCT_STACK_FEAST_REDIS_DB": "11",
           "RANKCT_PROFILE": "local"}  # --profile prod on the command line must win
    for key in [k for k in env if k.startswith(("MLFLOW_", "AIRFLOW_", "AIRFLOW__"))]:
        env.pop(key)
    yield env
    subprocess.run([RANKCT, "stack", "down", "--profile", "prod"], env=env, timeout=120,
                   check=False)
    from rankct.config import load_config
    from rankct.stack.prepare import admin_url, drop_databases
    from rankct.stack.settings import load_settings

    settings = load_settings(load_config("prod", environ=env), environ=env)
    drop_databases(settings, admin_url(env))


def test_stack_up_status_and_down(stack_env) -> None:
    up = subprocess.run([RANKCT, "stack", "up", "--profile", "prod", "--free-ports",
                         "--timeout", "400"], env=stack_env, capture_output=True, text=True,
                        timeout=600, check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    status = subprocess.run([RANKCT, "stack", "status", "--json", "--profile", "prod"],
                            env=stack_env, capture_output=True, text=True, timeout=60, check=False)
    assert status.returncode == 0, status.stdout + status.stderr
    services = json.loads(status.stdout)["services"]
    assert {s["name"] for s in services} == {
        "spark-master", "spark-worker-1", "spark-worker-2", "spark-connect", "mlflow",
        "evidently", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
        "airflow-triggerer"}
    assert all(s["alive"] and s["healthy"] and Path(s["log"]).exists() for s in services)
    urls = {s["name"]: s["url"] for s in services}

    client = dict(line.removeprefix("export ").split("=", 1) for line in subprocess.run(
        [RANKCT, "stack", "env", "--profile", "prod"], env=stack_env, capture_output=True,
        text=True, check=True).stdout.splitlines())
    login = (client["MLFLOW_TRACKING_USERNAME"], client["MLFLOW_TRACKING_PASSWORD"].strip("'"))
    search = client["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/experiments/search?max_results=5"
    assert _get(search)[0] == 401
    assert _get(search, (login[0], "wrong"))[0] == 401
    code, body = _get(search, login)
    assert code == 200 and "experiments" in json.loads(body)

    code, body = _get(urls["spark-master"] + "/json/")
    master = json.loads(body)
    assert code == 200 and master["status"] == "ALIVE"
    assert [w["state"] for w in master["workers"]] == ["ALIVE", "ALIVE"]
    assert master["url"] == client["RANKCT__SPARK__MASTER"]
    # A client attaches to the stack's Connect server: its query runs on the workers' executors
    # of the one application the server keeps on the master, with half of the cluster's cores.
    script = ("from rankct.config import load_config\n"
              "from rankct.spark import get_spark\n"
              "spark = get_spark(load_config().spark)\n"
              "print(spark.range(1000).selectExpr('sum(id)').first()[0])")
    query = subprocess.run(
        [sys.executable, "-c", script],
        env={**stack_env, **{k: v.strip("'") for k, v in client.items()}},
        capture_output=True, text=True, timeout=300, check=False)
    assert query.returncode == 0 and query.stdout.split()[-1] == "499500", query.stderr[-3000:]
    assert client["RANKCT__SPARK__REMOTE"].startswith("sc://127.0.0.1:")
    (server,) = json.loads(_get(urls["spark-master"] + "/json/")[1])["activeapps"]
    assert (server["name"], server["state"], server["cores"]) == ("rankct-connect", "RUNNING", 2)
    code, body = _get(urls["spark-connect"] + "/api/v1/applications")
    (app,) = json.loads(body)
    code, body = _get(f"{urls['spark-connect']}/api/v1/applications/{app['id']}/jobs")
    assert code == 200 and any(j["status"] == "SUCCEEDED" for j in json.loads(body))

    code, body = _get(urls["airflow-api-server"] + "/api/v2/monitor/health")
    health = json.loads(body)
    assert code == 200 and health["scheduler"]["status"] == "healthy"
    assert health["metadatabase"]["status"] == "healthy"

    _a_task_runs_through_the_scheduler(stack_env)

    again = subprocess.run([RANKCT, "stack", "up", "--profile", "prod"], env=stack_env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and "already runs" in again.stdout
    pids = {s["name"]: s["pid"] for s in services}
    assert pids == {s["name"]: s["pid"] for s in json.loads(subprocess.run(
        [RANKCT, "stack", "status", "--json", "--profile", "prod"], env=stack_env,
        capture_output=True, text=True, check=True).stdout)["services"]}

    down = subprocess.run([RANKCT, "stack", "down", "--profile", "prod"], env=stack_env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert down.returncode == 0, down.stderr
    still = [name for name, pid in pids.items() if Path(f"/proc/{pid}").exists()
             and Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"]
    assert still == []
    announce(f"rankct stack: {len(services)} services up and down, PostgreSQL and Redis of "
             "this machine (databases suffixed, dropped after)")
