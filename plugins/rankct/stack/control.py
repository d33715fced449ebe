"""``rankct stack up|down|status|env|run``: the production topology as processes of this
machine, recorded in ``<stack home>/state.json``.

``up`` is idempotent: a stack whose recorded processes all run and answer is left alone. It
starts the servers that need nothing first, each other one once what it needs is healthy, and
fails naming the service that did not become healthy and its log, after stopping what it had
started. ``down`` stops the recorded process groups, and nothing else.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

from rankct.errors import RankctError, ServiceUnavailable
from rankct.stack import health, prepare, processes
from rankct.stack.secrets import load_secrets
from rankct.stack.services import Service, client_environment, common_environment, stack_services
from rankct.stack.settings import StackSettings


class StackFailed(RankctError):
    """A service of the stack did not start or did not become healthy."""

    exit_code = 4


def settings_to_json(settings: StackSettings) -> dict[str, Any]:
    values = dataclasses.asdict(settings)
    values["home"], values["rankct_home"] = str(settings.home), str(settings.rankct_home)
    return values


def settings_from_json(values: dict[str, Any]) -> StackSettings:
    return StackSettings(**{**values, "home": Path(values["home"]),
                            "rankct_home": Path(values["rankct_home"])})


def recorded_settings(settings: StackSettings) -> StackSettings:
    """The settings of the stack recorded under ``settings.home`` (its ports), else these."""
    state = processes.read_state(settings.home)
    return settings_from_json(state["settings"]) if state else settings


def _log(settings: StackSettings, name: str) -> Path:
    return settings.home / "logs" / f"{name}.log"


def service_status(settings: StackSettings) -> list[dict[str, Any]]:
    """One entry per recorded service: name, pid, alive, url, healthy, log."""
    state = processes.read_state(settings.home)
    if state is None:
        return []
    secrets = load_secrets(settings.home)
    specs = {s.name: s for s in stack_services(settings, secrets)}
    rows = []
    for entry in state["services"]:
        alive = processes.is_alive(entry["pid"], entry["started"])
        spec = specs.get(entry["name"])
        log = Path(entry["log"])
        healthy = bool(alive and spec and health.check(spec.health, settings, log))
        rows.append({"name": entry["name"], "pid": entry["pid"], "alive": alive,
                     "url": entry["url"], "healthy": healthy, "log": entry["log"]})
    return rows


def _wait_healthy(service: Service, settings: StackSettings, pid: int, started: int,
                  deadline: float) -> None:
    log = _log(settings, service.name)
    while not health.check(service.health, settings, log):
        if not processes.is_alive(pid, started):
            raise StackFailed(f"{service.name} exited before it became healthy",
                              hint=f"see its log {log}")
        if time.monotonic() > deadline:
            raise StackFailed(f"{service.name} did not become healthy in time "
                              f"({service.health.kind} check of {service.health.target})",
                              hint=f"see its log {log}; is a port taken by another program?")
        time.sleep(1)


def _check_dependencies(settings: StackSettings, environ: dict[str, str]) -> None:
    problem = health.postgres_answers(prepare.admin_url(environ))
    if problem:
        raise ServiceUnavailable(f"PostgreSQL does not answer: {problem}",
                                 hint="start this machine's PostgreSQL (127.0.0.1:5432) or set "
                                      "RANKCT_STACK_POSTGRES_ADMIN_URL; nothing was started")
    dbs = [settings.feast_redis_db]
    if settings.executor == "celery" and settings.broker == "redis":
        dbs.append(settings.broker_redis_db)
    for db in dbs:
        problem = health.redis_answers(settings, db)
        if problem:
            raise ServiceUnavailable(f"Redis does not answer on db {db}: {problem}",
                                     hint=f"start Redis on {settings.redis_host}:"
                                          f"{settings.redis_port}; nothing was started")


def up(settings: StackSettings, environ: dict[str, str] | None = None,
       timeout: float = 300.0, say=print) -> list[dict[str, Any]]:
    """Start the stack (or leave a healthy one alone); the status rows once all are healthy."""
    environ = dict(os.environ if environ is None else environ)
    if processes.read_state(settings.home) is not None:
        settings = recorded_settings(settings)
        rows = service_status(settings)
        if rows and all(r["healthy"] for r in rows):
            say(f"the stack under {settings.home} already runs and is healthy")
            return rows
        if any(r["alive"] for r in rows):
            sick = ", ".join(r["name"] for r in rows if not r["healthy"])
            raise StackFailed(f"the stack under {settings.home} runs, but {sick} is not "
                              "healthy", hint="rankct stack down, then rankct stack up")
    _check_dependencies(settings, environ)
    secrets = load_secrets(settings.home, environ)
    created = prepare.ensure_databases(settings, prepare.admin_url(environ))
    if created:
        say("created " + ", ".join(created))
    prepare.write_logins(settings, secrets)
    env = common_environment(settings, secrets, environ)
    say("migrating Airflow's metadata database ...")
    prepare.migrate_airflow(env, _log(settings, "airflow-db-migrate"))
    services = stack_services(settings, secrets)
    state: dict[str, Any] = {"settings": settings_to_json(settings), "services": [],
                             "started_at": time.time()}
    by_name = {s.name: s for s in services}
    started: dict[str, tuple[int, int]] = {}
    deadline = time.monotonic() + timeout
    try:
        # Servers that need nothing start at once; the others once their needs answer.
        for service in sorted(services, key=lambda s: bool(s.needs)):
            for need in service.needs:
                _wait_healthy(by_name[need], settings, *started[need], deadline)
            log = _log(settings, service.name)
            pid, began = processes.spawn(service.argv, {**env, **service.env}, log)
            started[service.name] = (pid, began)
            state["services"].append({"name": service.name, "pid": pid, "started": began,
                                      "url": service.url, "log": str(log),
                                      "argv": service.argv})
            processes.write_state(settings.home, state)  # `down` works even if `up` dies
            say(f"started {service.name} (pid {pid})")
        for service in services:
            _wait_healthy(service, settings, *started[service.name], deadline)
            say(f"{service.name} is healthy")
    except BaseException:
        down(settings, say=lambda _: None)
        raise
    return service_status(settings)


def down(settings: StackSettings, timeout: float = 20.0, say=print) -> list[tuple[str, str]]:
    """Stop every recorded service (newest first), remove the state; (name, outcome) each."""
    state = processes.read_state(settings.home)
    if state is None:
        say(f"no stack recorded under {settings.home}")
        return []
    results = []
    for entry in reversed(state["services"]):
        outcome = processes.stop_group(entry["pid"], entry["started"], timeout)
        results.append((entry["name"], outcome))
        say(f"{entry['name']} (pid {entry['pid']}): {outcome}")
    processes.state_file(settings.home).unlink(missing_ok=True)
    return results


def env_lines(settings: StackSettings) -> list[str]:
    """``export`` lines of what a client of the recorded stack needs (its ports)."""
    import shlex

    settings = recorded_settings(settings)
    client = client_environment(settings, load_secrets(settings.home))
    return [f"export {key}={shlex.quote(value)}" for key, value in client.items()]


def run_service(settings: StackSettings, name: str,
                environ: dict[str, str] | None = None) -> None:
    """Replace this process by service ``name`` (docker-compose.yaml's entry point): the same
    argv as ``up`` starts, with the host names and secrets of the caller's environment."""
    environ = dict(os.environ if environ is None else environ)
    secrets = load_secrets(settings.home, environ)
    services = {s.name: s for s in stack_services(settings, secrets)}
    # A scaled Compose service (spark-worker, airflow-worker) runs the first one's argv.
    service = services.get(name) or services.get(f"{name}-1")
    if service is None:
        raise RankctError(f"no stack service {name!r}",
                          hint="one of " + ", ".join(sorted(services)))
    if service.name == "mlflow":
        prepare.write_logins(settings, secrets)
    env = {**common_environment(settings, secrets, environ), **service.env}
    env.update({k: environ[k] for k in service.env if k in environ})  # Compose's own win
    sys.stdout.flush()
    os.execvpe(service.argv[0], service.argv, env)


def attach(settings: StackSettings, environ: dict[str, str] | None = None) -> StackSettings:
    """The recorded stack's settings, for a client command (``rankct run``/``status``
    ``--profile prod``): its client variables (MLflow's URL and login, the Spark master, Feast's
    Redis) go into ``environ`` (default ``os.environ``) where not set already. Fails when no
    stack is recorded, or when it serves another rankct home."""
    environ = os.environ if environ is None else environ
    if processes.read_state(settings.home) is None:
        raise ServiceUnavailable(f"no stack is recorded under {settings.home}",
                                 hint="rankct stack up --profile prod (same RANKCT_HOME)")
    recorded = recorded_settings(settings)
    if recorded.rankct_home != settings.rankct_home:
        raise RankctError(f"the stack under {settings.home} serves {recorded.rankct_home}, "
                          f"not {settings.rankct_home}", hint="use the stack's RANKCT_HOME")
    for key, value in client_environment(recorded, load_secrets(recorded.home)).items():
        environ.setdefault(key, value)
    return recorded
