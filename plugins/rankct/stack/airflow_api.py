"""A small client of the stack's Airflow API server (REST, standard library only): log in as
the stack's admin, unpause a DAG, create a run, read its task states. What drives DAG runs
through the scheduler instead of ``airflow dags test``."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from rankct.errors import RankctError, ServiceUnavailable
from rankct.stack.settings import StackSettings

FINISHED = {"success", "failed", "skipped", "upstream_failed", "removed"}


@dataclass
class AirflowApi:
    """An authenticated session with the API server at ``base`` (e.g. http://127.0.0.1:8080)."""

    base: str
    token: str = ""

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        """One request; the JSON answer. A refusal raises :class:`RankctError` with the
        status and Airflow's message, no answer :class:`ServiceUnavailable`."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                raw = reply.read()
        except urllib.error.HTTPError as exc:
            raise RankctError(f"Airflow refused {method} {path}: {exc.code} "
                              f"{exc.read()[:300].decode(errors='replace')}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServiceUnavailable(f"Airflow's API server at {self.base} did not answer: "
                                     f"{exc}", hint="rankct stack status --profile prod") from None
        return json.loads(raw) if raw else None

    def login(self, user: str, password: str) -> AirflowApi:
        """Get a token from the auth manager (``POST /auth/token``)."""
        self.token = self.call("POST", "/auth/token",
                               {"username": user, "password": password})["access_token"]
        return self

    def wait_for_dag(self, dag_id: str, timeout: float = 180.0) -> dict[str, Any]:
        """The DAG once the DAG processor has parsed it into the database."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.call("GET", f"/api/v2/dags/{dag_id}")
            except ServiceUnavailable:
                raise
            except RankctError:
                if time.monotonic() > deadline:
                    raise RankctError(f"DAG {dag_id} was not parsed in {timeout:.0f} s",
                                      hint="see the stack's airflow-dag-processor.log") from None
                time.sleep(2)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused})

    def trigger(self, dag_id: str, logical_date: str, conf: dict | None = None) -> str:
        """Create a run of ``dag_id`` for ``logical_date`` (ISO, UTC); its run id."""
        run = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                        {"logical_date": logical_date, "conf": conf or {}})
        return run["dag_run_id"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """task id -> state of one run's task instances."""
        path = (f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
                "/taskInstances")
        return {t["task_id"]: t["state"] for t in self.call("GET", path)["task_instances"]}


def stack_api(settings: StackSettings) -> AirflowApi:
    """A session with the stack's API server as its admin (password from the stack's home)."""
    passwords = json.loads((settings.home / "airflow" / "passwords.json").read_text())
    return AirflowApi(f"http://127.0.0.1:{settings.ports['airflow']}").login(
        "admin", passwords["admin"])
