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

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """One run's task instances (task_id, state, duration, try_number, ...)."""
        return self.call("GET", f"{_run_path(dag_id, run_id)}/taskInstances?limit=100"
                         )["task_instances"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """task id -> state of one run's task instances."""
        return {t["task_id"]: t["state"] for t in self.task_instances(dag_id, run_id)}

    def dag_details(self, dag_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/v2/dags/{dag_id}/details")

    def create_backfill(self, dag_id: str, start: str, end: str,
                        reprocess: str = "failed") -> dict[str, Any]:
        """A backfill of the runs whose logical dates lie in ``start..end`` (ISO, UTC), one at
        a time, oldest first; runs that succeeded before are kept (``reprocess``)."""
        return self.call("POST", "/api/v2/backfills", {
            "dag_id": dag_id, "from_date": start, "to_date": end, "max_active_runs": 1,
            "run_backwards": False, "reprocess_behavior": reprocess})

    def backfill(self, backfill_id: int) -> dict[str, Any]:
        return self.call("GET", f"/api/v2/backfills/{backfill_id}")

    def dag_runs(self, dag_id: str, **filters: str) -> list[dict[str, Any]]:
        """The runs of ``dag_id``, oldest logical date first; ``filters`` are the API's query
        parameters (``logical_date_gte``, ``run_type``, ``run_after_gte``, ...)."""
        query = urllib.parse.urlencode({"order_by": "run_after", "limit": 100, **filters})
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?{query}")["dag_runs"]

    def clear_run(self, dag_id: str, run_id: str) -> None:
        """Clear every task of a run (the run is queued again): the scheduler runs it anew."""
        self.call("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances",
                  {"dag_run_id": run_id, "dry_run": False, "only_failed": False,
                   "reset_dag_runs": True})

    def asset_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The Asset events that started a run (none for a run the timetable started)."""
        return self.call("GET", f"{_run_path(dag_id, run_id)}/upstreamAssetEvents"
                         )["asset_events"]


def _run_path(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"


def stack_api(settings: StackSettings) -> AirflowApi:
    """A session with the stack's API server as its admin (password from the stack's home)."""
    passwords = json.loads((settings.home / "airflow" / "passwords.json").read_text())
    return AirflowApi(f"http://127.0.0.1:{settings.ports['airflow']}").login(
        "admin", passwords["admin"])
