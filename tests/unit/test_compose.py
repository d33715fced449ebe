"""docker-compose.yaml, checked without a Docker engine: interpolated as Compose does, it parses
under the Compose Specification (compose-spec, strict: an unknown key is an error), every
reference resolves, the production wiring points each component at the right service, and the
secure defaults hold: no secret has a default (Compose refuses to start without each one), each
secret reaches only the services that use it, and only the UIs are published, on 127.0.0.1."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
# Every secret, and exactly the services that may see it.
SECRETS = {
    "POSTGRES_PASSWORD": {"postgres", "airflow-init", "airflow-api-server", "airflow-scheduler",
                          "airflow-dag-processor", "airflow-triggerer", "airflow-cli", "mlflow",
                          "airflow-worker"},
    "AIRFLOW_JWT_SECRET": {"airflow-init", "airflow-api-server", "airflow-scheduler",
                           "airflow-dag-processor", "airflow-triggerer", "airflow-cli",
                           "airflow-worker"},
    "AIRFLOW_SECRET_KEY": {"airflow-init", "airflow-api-server", "airflow-scheduler",
                           "airflow-dag-processor", "airflow-triggerer", "airflow-cli",
                           "airflow-worker"},
    "AIRFLOW_ADMIN_PASSWORD": {"airflow-init"},
    # Feast's online store, and Celery's broker for the scheduler and its workers.
    "REDIS_PASSWORD": {"redis", "airflow-init", "airflow-scheduler", "airflow-worker"},
    "RANKCT_WEBHOOK_SECRET": {"airflow-scheduler", "airflow-worker"},
    # The tasks log and promote through the tracking server, as its admin.
    "MLFLOW_ADMIN_PASSWORD": {"mlflow", "airflow-scheduler", "airflow-worker"},
    "MLFLOW_SECRET_KEY": {"mlflow"},
    "EVIDENTLY_SECRET": {"evidently"},
}
UIS = {"airflow-api-server": 8080, "mlflow": 5000, "evidently": 8000}
_REFERENCE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?+])([^}]*))?\}|\$(\w+)")


class MissingVariable(ValueError):
    pass


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation of one value ($$, $VAR, ${VAR}, ${VAR:-x}, ${VAR-x},
    ${VAR:?err}, ${VAR?err}, ${VAR:+x}, ${VAR+x})."""
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, arg = match.group(2), match.group(3) or ""
        current = env.get(name)
        unset_or_empty = not current
        if op in (":-", "-"):
            return arg if (unset_or_empty if op == ":-" else current is None) else current
        if op in (":?", "?"):
            if unset_or_empty if op == ":?" else current is None:
                raise MissingVariable(f"required variable {name} is missing a value: {arg}")
            return current
        if op in (":+", "+"):
            return arg if not (unset_or_empty if op == ":+" else current is None) else ""
        return current or ""

    return _REFERENCE.sub(replace, value)


def resolve(document: Any, env: dict[str, str]) -> Any:
    """Every string of the (merged) document interpolated, as `docker compose config` does."""
    if isinstance(document, dict):
        return {key: resolve(value, env) for key, value in document.items()}
    if isinstance(document, list):
        return [resolve(value, env) for value in document]
    return interpolate(document, env) if isinstance(document, str) else document


def references(document: Any) -> list[tuple[str, str | None]]:
    """(variable, operator) of every interpolation in the document's values."""
    if isinstance(document, dict):
        return [ref for value in document.values() for ref in references(value)]
    if isinstance(document, list):
        return [ref for value in document for ref in references(value)]
    if not isinstance(document, str):
        return []
    return [(m.group(1) or m.group(4), m.group(2)) for m in _REFERENCE.finditer(document)
            if m.group(0) != "$$"]


def stack_argv(services: dict, name: str) -> list[str]:
    """The command line ``rankct stack run`` execs for compose service ``name``, built from
    that service's environment as the container would (rankct.stack.services)."""
    from rankct.config import load_config
    from rankct.stack.services import stack_services
    from rankct.stack.settings import load_settings

    env = services[name]["environment"]
    settings = load_settings(load_config("prod", environ=env), environ=env)
    secrets = {key: "x" for key in ("mlflow_admin_user", "mlflow_admin_password",
                                    "mlflow_secret_key", "airflow_admin_password",
                                    "airflow_jwt_secret", "airflow_secret_key",
                                    "evidently_secret")}
    specs = {s.name: s for s in stack_services(settings, secrets)}
    return (specs.get(name) or specs[f"{name}-1"]).argv


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())  # merge keys (<<) resolved, as Compose does


@pytest.fixture(scope="module")
def secrets_env() -> dict[str, str]:
    return {name: f"test-{name.lower()}" for name in SECRETS}


@pytest.fixture(scope="module")
def resolved(compose, secrets_env) -> dict:
    return resolve(compose, secrets_env)


def test_compose_file_conforms_to_the_compose_specification(resolved) -> None:
    from compose_spec import PyOptions
    from compose_spec.models import ComposeSpecification

    parsed = PyOptions(apply_merge=True).from_yaml(yaml.safe_dump(resolved))
    parsed.validate()  # networks, volumes, configs and secrets referenced are declared
    ComposeSpecification.model_validate(resolved)
    assert set(parsed.service_names()) >= {
        "postgres", "redis", "spark-master", "spark-worker", "airflow-init",
        "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "mlflow",
        "evidently"}


def test_the_validator_rejects_what_docker_would(resolved) -> None:
    """The check above can fail: a misspelt key or a bad dependency condition is refused."""
    from compose_spec import PyOptions

    text = yaml.safe_dump(resolved)
    scheduler = "command:\n    - rankct\n    - stack\n    - run\n    - airflow-scheduler"
    for broken in (text.replace(scheduler, "co" + scheduler[3:]),
                   text.replace("condition: service_completed_successfully",
                                "condition: completed", 1)):
        assert broken != text
        with pytest.raises(ValueError):
            PyOptions(apply_merge=True).from_yaml(broken).validate()


def test_compose_refuses_to_start_without_any_one_secret(compose, secrets_env) -> None:
    for name in SECRETS:
        for missing in ({k: v for k, v in secrets_env.items() if k != name},
                        {**secrets_env, name: ""}):
            with pytest.raises(MissingVariable, match=name):
                resolve(compose, missing)


def test_no_secret_has_a_default_and_each_reaches_only_its_services(compose) -> None:
    seen: dict[str, set[str]] = {}
    for service, definition in compose["services"].items():
        for name, op in references(definition):
            if name in SECRETS:
                assert op == ":?", f"{service}: ${{{name}}} must be ${{{name}:?...}}, no default"
                seen.setdefault(name, set()).add(service)
    assert seen == SECRETS
    # No password or key is written into the file itself.
    text = COMPOSE.read_text()
    assert "change-me" not in text and ":-rankct}" not in text


def test_only_the_uis_are_published_on_loopback(resolved) -> None:
    for name, service in resolved["services"].items():
        ports = service.get("ports", [])
        if name in UIS:
            assert ports == [f"127.0.0.1:{UIS[name]}:{UIS[name]}"], name
        else:
            assert not ports, f"{name} publishes {ports}"
    exposed = resolve(yaml.safe_load(COMPOSE.read_text()),
                      {**{k: "x" for k in SECRETS}, "RANKCT_BIND_ADDRESS": "0.0.0.0"})
    assert exposed["services"]["mlflow"]["ports"] == ["0.0.0.0:5000:5000"]


def test_uis_ask_for_a_login(resolved) -> None:
    services = resolved["services"]
    api = services["airflow-api-server"]["environment"]
    module, _, name = api["AIRFLOW__CORE__AUTH_MANAGER"].rpartition(".")
    assert name == "FabAuthManager"
    # The auth manager named is installed from the lock file (the image's environment); found
    # without importing it (that takes seconds).
    from importlib.util import find_spec

    spec = find_spec(module)
    assert spec and f"class {name}(" in Path(spec.origin).read_text()
    init = " ".join(services["airflow-init"]["command"])
    assert "airflow users create --role Admin" in init and "$AIRFLOW_ADMIN_PASSWORD" in init
    mlflow = services["mlflow"]
    assert "--app-name basic-auth" in " ".join(stack_argv(services, "mlflow"))
    assert mlflow["environment"]["MLFLOW_AUTH_CONFIG_PATH"] == \
        "/opt/rankct/config/mlflow-auth.ini"
    auth = (ROOT / "config" / "mlflow-auth.ini").read_text()
    assert "default_permission = READ" in auth and "/opt/rankct/var/" in auth
    assert services["evidently"]["environment"]["EVIDENTLY_SECRET"]
    assert "--requirepass" in " ".join(services["redis"]["command"])


def test_references_resolve(resolved) -> None:
    services = resolved["services"]
    volumes = set(resolved["volumes"])
    for name, service in services.items():
        for target in service.get("depends_on", {}):
            assert target in services, f"{name} depends on unknown {target}"
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in volumes, f"{name} mounts undeclared volume {source}"
            else:
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    assert (ROOT / "Dockerfile").exists()
    assert "requirements.lock" in (ROOT / "Dockerfile").read_text()
    example = (ROOT / ".env.example").read_text()
    assert all(f"\n{name}=\n" in example for name in SECRETS)


def test_production_wiring(resolved) -> None:
    services = resolved["services"]
    scheduler = services["airflow-scheduler"]["environment"]
    assert scheduler["RANKCT_PROFILE"] == "prod"
    assert scheduler["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"  # unless AIRFLOW_EXECUTOR
    assert services["airflow-worker"]["profiles"] == ["celery"]
    assert services["airflow-worker"]["environment"]["AIRFLOW__CELERY__BROKER_URL"] == \
        "redis://:test-redis_password@redis:6379/4"
    assert scheduler["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        "postgresql+psycopg2://rankct:test-postgres_password@postgres:5432/airflow")
    # Tasks reach MLflow through its server, which alone opens the database.
    assert scheduler["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert scheduler["MLFLOW_TRACKING_PASSWORD"] == "test-mlflow_admin_password"
    assert services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"].endswith(
        "@postgres:5432/mlflow")
    spark = json.loads(scheduler["AIRFLOW_CONN_RANKCT_SPARK"])
    assert (spark["host"], spark["port"]) == ("spark://spark-master", 7077)
    # What `rankct stack run` gives the tasks: the Connect server by its service name.
    from rankct.config import load_config
    from rankct.stack.services import common_environment
    from rankct.stack.settings import load_settings

    settings = load_settings(load_config("prod", environ=scheduler), environ=scheduler)
    tasks = common_environment(settings, {"mlflow_admin_user": "admin",
                                          "mlflow_admin_password": "x",
                                          "airflow_jwt_secret": "x",
                                          "airflow_secret_key": "x"}, scheduler)
    assert tasks["RANKCT__SPARK__REMOTE"] == "sc://spark-connect:15002"
    assert load_config("prod", environ=tasks).spark.shuffle_partitions == 4
    for name in ("airflow-scheduler", "airflow-worker"):
        assert services[name]["depends_on"]["spark-connect"]["condition"] == "service_healthy"
    assert scheduler["RANKCT_REDIS"] == "redis:6379,password=test-redis_password"
    # Everything that reads or writes state shares one volume at RANKCT_HOME.
    for name in ("airflow-scheduler", "airflow-api-server", "mlflow", "evidently",
                 "spark-worker"):
        mounts = services[name]["volumes"]
        assert any(m.startswith("rankct-state:/opt/rankct/var") for m in mounts), name


def test_servers_run_the_stacks_command_lines(resolved) -> None:
    """One source of truth: each server's compose command is `rankct stack run SERVICE`, and
    the argv that execs listens where compose publishes, probes and connects."""
    services = resolved["services"]
    servers = ["spark-master", "spark-worker", "spark-connect", "airflow-api-server",
               "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
               "airflow-worker", "mlflow", "evidently"]
    for name in servers:
        assert services[name]["command"] == ["rankct", "stack", "run", name], name
    argv = {name: " ".join(stack_argv(services, name)) for name in servers}
    assert argv["spark-master"].endswith(
        "master.Master --host spark-master --port 7077 --webui-port 8081")
    assert "Worker spark://spark-master:7077 --cores 4 --memory 8g" in argv["spark-worker"]
    assert "--host 127.0.0.1" not in argv["spark-worker"]
    # The Connect server runs on the master with half the worker's cores, reachable under its
    # service name (its executors call its driver back there).
    connect = argv["spark-connect"]
    assert "--master spark://spark-master:7077" in connect and "spark.cores.max=2" in connect
    assert "spark.connect.grpc.binding.address=0.0.0.0" in connect
    assert "spark.connect.grpc.binding.port=15002" in connect
    assert "spark.driver.host=spark-connect" in connect and "spark.ui.port=4040" in connect
    assert "localhost:4040" in " ".join(services["spark-connect"]["healthcheck"]["test"])
    assert "api-server --host 0.0.0.0 --port 8080" in argv["airflow-api-server"]
    assert argv["airflow-scheduler"].endswith("airflow scheduler")
    assert "celery worker --concurrency 2 --celery-hostname worker-1@%h" in argv["airflow-worker"]
    assert "--host 0.0.0.0 --port 5000" in argv["mlflow"] and "--serve-artifacts" in \
        argv["mlflow"] and "--allowed-hosts mlflow," in argv["mlflow"]
    assert "--workspace /opt/rankct/var/evidently --host 0.0.0.0 --port 8000" in \
        argv["evidently"]
    # Published ports and health checks are the ones the command lines listen on.
    assert "localhost:8081" in " ".join(services["spark-master"]["healthcheck"]["test"])
    assert "localhost:5000/health" in " ".join(services["mlflow"]["healthcheck"]["test"])
    # No password reaches a command line (the database URL travels in the environment).
    assert "test-" not in " ".join(argv.values())
