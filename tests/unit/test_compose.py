"""docker-compose.yaml, checked without a Docker engine: it parses under the Compose
Specification (compose-spec, strict: an unknown key is an error), every reference resolves, and
the production wiring points each component at the right service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_conforms_to_the_compose_specification() -> None:
    from compose_spec import PyOptions
    from compose_spec.models import ComposeSpecification

    # apply_merge: the file shares environment blocks through YAML merge keys (<<), as Docker
    # Compose resolves them.
    parsed = PyOptions(apply_merge=True).from_yaml(COMPOSE.read_text())
    parsed.validate()  # networks, volumes, configs and secrets referenced are declared
    ComposeSpecification.model_validate(yaml.safe_load(COMPOSE.read_text()))
    assert set(parsed.service_names()) >= {
        "postgres", "redis", "spark-master", "spark-worker", "airflow-init",
        "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "mlflow",
        "evidently"}


def test_the_validator_rejects_what_docker_would(tmp_path) -> None:
    """The check above can fail: a misspelt key or a bad dependency condition is refused."""
    from compose_spec import PyOptions

    text = COMPOSE.read_text()
    for broken in (text.replace("    command: [\"airflow\", \"scheduler\"]",
                                "    comand: [\"airflow\", \"scheduler\"]"),
                   text.replace("condition: service_completed_successfully",
                                "condition: completed", 1)):
        assert broken != text
        with pytest.raises(ValueError):
            PyOptions(apply_merge=True).from_yaml(broken).validate()


def test_references_resolve(compose) -> None:
    services = compose["services"]
    volumes = set(compose["volumes"])
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


def test_production_wiring(compose) -> None:
    services = compose["services"]
    scheduler = services["airflow-scheduler"]["environment"]
    assert scheduler["RANKCT_PROFILE"] == "prod"
    assert scheduler["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
        "postgresql+psycopg2://") and "@postgres:5432/airflow" in \
        scheduler["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert scheduler["RANKCT_MLFLOW_DB"].endswith("@postgres:5432/mlflow")
    spark = json.loads(scheduler["AIRFLOW_CONN_RANKCT_SPARK"])
    assert (spark["host"], spark["port"]) == ("spark://spark-master", 7077)
    assert scheduler["RANKCT_REDIS"].startswith("redis:")
    # Everything that reads or writes state shares one volume at RANKCT_HOME.
    for name in ("airflow-scheduler", "airflow-api-server", "mlflow", "evidently",
                 "spark-worker"):
        mounts = services[name]["volumes"]
        assert any(m.startswith("rankct-state:/opt/rankct/var") for m in mounts), name
    assert "8080:8080" in services["airflow-api-server"]["ports"]
    assert "5000:5000" in services["mlflow"]["ports"]
    assert "8000:8000" in services["evidently"]["ports"]
