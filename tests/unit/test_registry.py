"""MLflow registry on a temporary SQLite store: logging, tags, aliases, the gate's decisions,
promotion and rollback, and the CLI commands over them."""

from __future__ import annotations

import json
from datetime import date

import pytest
from rankct import cli
from rankct.config import GateConfig
from rankct.errors import RankctError
from rankct.evaluation.comparison import ranking_churn
from rankct.evaluation.metrics import evaluate, per_request_metrics
from rankct.evaluation.slices import slice_metrics
from rankct.gates.apply import decide_and_apply
from rankct.registry import (
    champion_version,
    list_versions,
    load_booster,
    log_files,
    log_training_run,
    open_store,
    promote,
    reject,
    rollback,
    version_reports_dir,
)
from rankct.registry.runs import dataset_fingerprint, load_training_sample
from rankct.registry.store import expand_env, redact
from rankct.reports.ranking import ranking_report

from tests.unit.test_gate import (
    FEATURES,
    PASSED_DATA,
    PASSED_PARITY,
    baseline_of,
    scored,
    synthetic_requests,
    train_ranker,
)

INTERVAL = (date(2026, 11, 1), date(2026, 11, 7))


@pytest.fixture(scope="module")
def cfg(config, tmp_path_factory):
    """The session config with its own state folder: this module's registry starts empty."""
    local = config.model_copy(deep=True)
    local.home = tmp_path_factory.mktemp("registry_home")
    local.gate = GateConfig(min_ndcg=0.1)
    return local


@pytest.fixture(scope="module")
def data():
    train = synthetic_requests(300, seed=1)
    return {"train": train, "test": synthetic_requests(200, seed=2),
            "good": train_ranker(train), "bad": train_ranker(train, shuffle_labels=True),
            "mediocre": train_ranker(train, rounds=1)}


def register(store, data, name):
    test = scored(data["test"], score=data[name])
    return log_training_run(
        store, data[name], data["train"], feature_names=FEATURES,
        params={"eta": 0.3, "max_depth": 4}, metrics=evaluate(test).as_dict(),
        data_interval=INTERVAL, slice_table=slice_metrics(test, {"surface": "surface"}),
        airflow_run_id=f"scheduled__{name}", commit="abc123", run_name=name)


def judge(store, cfg, data, version, name, champion_name):
    """Evaluate ``name`` against the current champion (``champion_name``) and apply the gate."""
    frame = scored(data["test"], challenger=data[name],
                   **({"champion": data[champion_name]} if champion_name else {}))
    champion = champion_version(store)
    return decide_and_apply(
        store, cfg, version, challenger=per_request_metrics(frame, "challenger"),
        champion=per_request_metrics(frame, "champion") if champion_name else None,
        evaluated_champion=champion, data_gate=PASSED_DATA,
        churn=ranking_churn(frame) if champion_name else None,
        slices=slice_metrics(frame, {"surface": "surface"}, score="challenger"),
        parity=PASSED_PARITY, baseline=baseline_of(frame, "challenger"))


def test_uris_default_to_sqlite_under_home_and_expand_the_environment(cfg):
    store = open_store(cfg)
    assert store.tracking_uri == f"sqlite:///{cfg.home.resolve()}/mlflow/mlflow.db"
    assert store.registry_uri == store.tracking_uri
    assert store.artifact_root == (cfg.home.resolve() / "mlflow" / "artifacts").as_uri()
    assert store.model_name == "marketplace_ranker"
    env = {"DB": "postgresql://u:secret@db/mlflow"}
    assert expand_env("${DB}", env) == env["DB"]
    assert expand_env("${NOPE:-sqlite:///x.db}", env) == "sqlite:///x.db"
    with pytest.raises(RankctError, match="NOPE"):
        expand_env("${NOPE}", env)
    assert redact(env["DB"]) == "postgresql://u:***@db/mlflow"


def test_fingerprint_is_stable_and_sensitive(data):
    train = data["train"]
    assert dataset_fingerprint(train) == dataset_fingerprint(train.copy())
    changed = train.copy()
    changed.loc[0, "grade"] += 1
    assert dataset_fingerprint(changed) != dataset_fingerprint(train)


def test_lifecycle_register_gate_promote_reject_rollback(cfg, data, capsys):
    store = open_store(cfg)
    with pytest.raises(RankctError, match="no previous champion"):
        rollback(store)

    # First model: registered as challenger, judged on floors alone, promoted.
    first = register(store, data, "mediocre")
    version = store.client.get_model_version(store.model_name, first.version)
    assert version.aliases == ["challenger"]
    assert version.tags["data_interval"] == "2026-11-01/2026-11-07"
    assert version.tags["dataset_fingerprint"] == dataset_fingerprint(data["train"])
    assert version.tags["feature_service"] == "ranker_v1"
    assert version.tags["git_commit"] == "abc123"
    assert version.tags["airflow_run_id"] == "scheduled__mediocre"
    assert version.tags["gate_decision"] == "pending"
    run = store.client.get_run(first.run_id)
    assert run.data.params["n_features"] == str(len(FEATURES))
    assert run.data.metrics["ndcg_at_10"] > 0
    artifacts = {a.path for a in store.client.list_artifacts(first.run_id)}
    assert {"features.json", "slices.json", "plots", "data", "gate"} - artifacts == {"gate"}
    assert list(load_training_sample(store, first.version).columns) == FEATURES + ["grade"]
    with pytest.raises(RankctError, match="not 'passed'"):
        promote(store, first.version)

    decision = judge(store, cfg, data, first.version, "mediocre", None)
    assert decision.passed and decision.champion == first.version and decision.replaced is None
    assert champion_version(store) == first.version

    # A better model replaces it; the previous champion is kept.
    second = register(store, data, "good")
    decision = judge(store, cfg, data, second.version, "good", "mediocre")
    assert decision.passed, decision.reasons
    assert decision.replaced == first.version and champion_version(store) == second.version
    tags = store.client.get_model_version(store.model_name, second.version).tags
    assert tags["gate_decision"] == "passed" and tags["previous_champion"] == first.version

    # A degraded model (shuffled labels) is rejected with reasons; the champion stays.
    third = register(store, data, "bad")
    decision = judge(store, cfg, data, third.version, "bad", "good")
    assert not decision.passed and champion_version(store) == second.version
    tags = store.client.get_model_version(store.model_name, third.version).tags
    assert tags["gate_decision"] == "rejected" and "non_regression" in tags["gate_reasons"]
    with pytest.raises(RankctError, match="not 'passed'"):
        promote(store, third.version)
    record = json.loads(decision.record.read_text())
    assert record["outcome"] == "rejected" and record["champion_version"] == second.version
    assert record["reasons"] == decision.reasons
    for check in record["checks"]:
        assert {"value", "threshold", "passed", "detail"} <= set(check)
    logged = store.client.list_artifacts(third.run_id, "gate")
    assert [a.path for a in logged] == ["gate/decision.json"]
    assert decision.record == version_reports_dir(cfg, "model_gate", third.version) / (
        "decision.json")

    # The ranking report of the decision, under the reports folder and on the version's run.
    frame = scored(data["test"], challenger=data["bad"], champion=data["good"])
    out = version_reports_dir(cfg, "ranking", third.version)
    paths, _ = ranking_report(frame, out, models={f"challenger v{third.version}": "challenger",
                                                  f"champion v{second.version}": "champion"})
    log_files(store, third.version, paths.as_list(), "reports/ranking")
    logged = {a.path for a in store.client.list_artifacts(third.run_id, "reports/ranking")}
    assert logged == {f"reports/ranking/{p.name}" for p in paths.as_list()}

    # The champion's booster loads by alias and scores like the one trained.
    booster = load_booster(store, "champion")
    assert booster.get_dump() == data["good"].get_dump()
    with pytest.raises(RankctError, match="no version with alias"):
        load_booster(store, "nonexistent")
    with pytest.raises(RankctError, match="is the champion"):
        reject(store, second.version, ["manual"])

    # CLI: list versions, then roll back to the first model, then nothing left to roll back to.
    assert cli.main(["models"]) == 0
    listing = capsys.readouterr().out
    assert f"{second.version:>7}  champion" in listing and "rejected" in listing

    assert cli.main(["rollback"]) == 0
    assert f"champion is now version {first.version}" in capsys.readouterr().out
    assert champion_version(store) == first.version
    rows = {row.version: row for row in list_versions(store)}
    assert rows[first.version].aliases == ["champion"]
    assert store.client.get_model_version(store.model_name, second.version).tags[
        "rolled_back"] == "true"
    assert cli.main(["rollback"]) == 2
    assert "no previous champion" in capsys.readouterr().err


@pytest.fixture(autouse=True)
def _cli_home(cfg, monkeypatch):
    """The CLI loads its configuration from the environment: point it at this module's home."""
    monkeypatch.setenv("RANKCT_HOME", str(cfg.home))
    monkeypatch.setenv("RANKCT_PROFILE", "local")
