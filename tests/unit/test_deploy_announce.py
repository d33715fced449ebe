"""The sending side on a real MLflow store and real export bundles: `rankct deploy notify`
announces the champion to a local receiver (and nothing else), a rollback is announced as a
deployment too, and what the receiver got passes `rankct deploy verify`'s checks with the bundle
the payload names. The overrides a run trained with are recorded on its version and decision."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from rankct import cli
from rankct.deploy.contract import SIGNATURE_HEADER, Decision, verify_delivery
from rankct.export.bundle import export_bundle, log_bundle
from rankct.registry import champion_version, open_store, set_version_tags
from rankct.registry.store import TAG_ONNX_MODEL_URI, TAG_ONNX_SHA256

from tests.unit.test_gate import FEATURES
from tests.unit.test_registry import data, judge, register  # noqa: F401 - the data fixture
from tests.webhook import Receiver

SECRET = "announce-test-secret"


@pytest.fixture(scope="module")
def cfg(config, tmp_path_factory):
    from rankct.config import GateConfig

    local = config.model_copy(deep=True)
    local.home = tmp_path_factory.mktemp("announce_home")
    local.gate = GateConfig(min_ndcg=0.1)
    local.run_overrides = {"training.eta": 0.3}
    return local


@pytest.fixture(autouse=True)
def _cli_environment(cfg, monkeypatch):
    monkeypatch.setenv("RANKCT_HOME", str(cfg.home))
    monkeypatch.setenv("RANKCT_PROFILE", "local")
    monkeypatch.setenv("RANKCT_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("RANKCT__NOTIFY__BACKOFF_SECONDS", "0")


def _export(store, cfg, version: str, booster, held_out) -> None:
    """What the export stage does: the bundle, logged on the version's run, its tags set."""
    bundle = export_bundle(booster, FEATURES, held_out, cfg.home / "exports" / store.model_name,
                           version=int(version), model_name=store.model_name)
    run_id = store.client.get_model_version(store.model_name, version).run_id
    with store.activated(), mlflow.start_run(run_id=run_id):
        logged = log_bundle(bundle)
    set_version_tags(store, version, {TAG_ONNX_SHA256: bundle.onnx_sha256,
                                      TAG_ONNX_MODEL_URI: logged["model_uri"]})


@pytest.fixture(scope="module")
def champions(cfg, data):  # noqa: F811 - pytest fixture
    store = open_store(cfg)
    first = register(store, data, "mediocre").version
    assert judge(store, cfg, data, first, "mediocre", None).passed
    _export(store, cfg, first, data["mediocre"], data["test"])
    second = register(store, data, "good").version
    assert judge(store, cfg, data, second, "good", "mediocre").passed
    _export(store, cfg, second, data["good"], data["test"])
    return store, first, second


def _received(hook: Receiver, store, cfg) -> object:
    (headers, body), = hook.requests
    payload = verify_delivery(body, headers[SIGNATURE_HEADER], SECRET)
    bundle = cfg.home / "exports" / store.model_name / payload.version
    verify_delivery(body, headers[SIGNATURE_HEADER], SECRET, bundle=bundle)
    return payload


def test_deploy_notify_announces_the_champion_and_only_it(cfg, champions, monkeypatch,
                                                          capsys) -> None:
    store, first, second = champions
    with Receiver([]) as hook:
        monkeypatch.setenv("RANKCT__NOTIFY__URL", hook.url)
        assert cli.main(["deploy", "notify"]) == 0
        assert cli.main(["deploy", "notify", "--version", first]) == 2
    assert f"version {first} of marketplace_ranker is not the champion" in capsys.readouterr().err
    payload = _received(hook, store, cfg)
    assert (payload.version, payload.decision) == (second, Decision.REANNOUNCED)
    assert payload.artifacts["bundle"].endswith(f"/artifacts/export/{second}")
    assert payload.artifacts["onnx_model"].startswith("models:/")
    assert payload.context["decision_sha256"] and payload.metrics
    records = list((cfg.home / "deployments").glob(f"*-v{second}-*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["result"]["status"] == "sent"


def test_a_failed_announcement_says_so_and_the_champion_stays(cfg, champions, monkeypatch,
                                                              capsys) -> None:
    store, _, second = champions
    with Receiver([500] * 10) as hook:
        monkeypatch.setenv("RANKCT__NOTIFY__URL", hook.url)
        monkeypatch.setenv("RANKCT__NOTIFY__RETRIES", "1")
        assert cli.main(["deploy", "notify"]) == 3
    assert "did not accept the announcement" in capsys.readouterr().err
    assert len(hook.requests) == 2 and champion_version(store) == second


def test_a_rollback_is_announced_as_a_deployment(cfg, champions, monkeypatch, capsys) -> None:
    store, first, _ = champions
    with Receiver([]) as hook:
        monkeypatch.setenv("RANKCT__NOTIFY__URL", hook.url)
        assert cli.main(["rollback", "--reason", "conversion dropped after v2"]) == 0
    payload = _received(hook, store, cfg)
    assert (payload.version, payload.decision) == (first, Decision.ROLLED_BACK)
    assert payload.context["reason"] == "conversion dropped after v2"
    assert champion_version(store) == first
    assert "rolled back: champion is now version" in capsys.readouterr().out


def test_a_runs_overrides_are_recorded_with_its_version_and_decision(cfg, champions,
                                                                      data) -> None:  # noqa: F811
    from rankct.evaluation.metrics import evaluate
    from rankct.registry import log_training_run

    from tests.unit.test_gate import scored
    from tests.unit.test_registry import INTERVAL

    store, first, _ = champions
    record = cfg.reports_dir / "model_gate" / store.model_name / f"v{first}" / "decision.json"
    assert json.loads(Path(record).read_text())["run_overrides"] == {"training.eta": 0.3}
    version = log_training_run(
        store, data["good"], data["train"], feature_names=FEATURES, params={"eta": 0.3},
        metrics=evaluate(scored(data["test"], score=data["good"])).as_dict(),
        data_interval=INTERVAL, run_overrides=cfg.run_overrides).version
    tags = store.client.get_model_version(store.model_name, version).tags
    assert json.loads(tags["run_overrides"]) == {"training.eta": 0.3}
    run = store.client.get_run(store.client.get_model_version(store.model_name, version).run_id)
    assert json.loads(run.data.tags["run_overrides"]) == {"training.eta": 0.3}
