"""Only a model that passed the gate becomes the champion, on a real MLflow store: the decision
record must be the one the gate wrote (its sha256 is on the version) and hold every mandatory
check, passed; a rolled-back version is never promoted again; alias changes take a lock and are
recorded in the alias history; a store that does not answer is an outage, retried, never "no
champion"."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rankct import cli
from rankct.errors import RankctError, ServiceUnavailable
from rankct.gates.apply import apply_decision, decide
from rankct.registry import alias_version, champion_version, open_store, rollback
from rankct.registry.history import AliasAction, read_history
from rankct.registry.store import TAG_DECISION_SHA256

from tests.unit.test_gate import PASSED_DATA, PASSED_PARITY
from tests.unit.test_registry import data, judge, register  # noqa: F401 - the data fixture

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def cfg(config, tmp_path_factory):
    from rankct.config import GateConfig

    local = config.model_copy(deep=True)
    local.home = tmp_path_factory.mktemp("integrity_home")
    local.gate = GateConfig(min_ndcg=0.1)
    local.mlflow.retry_backoff_seconds = 0.05
    local.mlflow.lock_timeout_seconds = 2.0
    return local


@pytest.fixture(autouse=True)
def _cli_home(cfg, monkeypatch):
    monkeypatch.setenv("RANKCT_HOME", str(cfg.home))
    monkeypatch.setenv("RANKCT_PROFILE", "local")
    monkeypatch.setenv("RANKCT__MLFLOW__RETRY_BACKOFF_SECONDS", "0.05")


@pytest.fixture(scope="module")
def lineage(cfg, data):  # noqa: F811 - pytest fixture
    """v1 (first champion), then v2 (better, promoted): the state every test here starts from."""
    store = open_store(cfg)
    first = register(store, data, "mediocre")
    assert judge(store, cfg, data, first.version, "mediocre", None).passed
    second = register(store, data, "good")
    assert judge(store, cfg, data, second.version, "good", "mediocre").passed
    return store, first.version, second.version


def _record_for(store, cfg, data, version, champion_name):  # noqa: F811
    """The gate's decision on ``version`` against the current champion, written, not applied."""
    from rankct.evaluation.comparison import ranking_churn
    from rankct.evaluation.metrics import per_request_metrics
    from rankct.evaluation.slices import slice_metrics

    from tests.unit.test_gate import baseline_of, scored

    frame = scored(data["test"], challenger=data["good"], champion=data[champion_name])
    return decide(store, cfg, version, challenger=per_request_metrics(frame, "challenger"),
                  champion=per_request_metrics(frame, "champion"),
                  evaluated_champion=champion_version(store), data_gate=PASSED_DATA,
                  churn=ranking_churn(frame), parity=PASSED_PARITY,
                  slices=slice_metrics(frame, {"surface": "surface"}, score="challenger"),
                  baseline=baseline_of(frame, "challenger"))


def test_a_record_edited_after_the_gate_promotes_nothing(cfg, data, lineage) -> None:  # noqa: F811
    store, _, second = lineage
    third = register(store, data, "good").version
    decision = _record_for(store, cfg, data, third, "good")
    assert decision.passed
    document = json.loads(decision.record.read_text())
    document["checks"][0]["detail"] += " (reviewed)"
    decision.record.write_text(json.dumps(document))
    with pytest.raises(RankctError, match="is not the one the gate logged"):
        apply_decision(store, third, decision.record)
    assert champion_version(store) == second


def test_a_record_without_the_mandatory_checks_promotes_nothing(cfg, data,  # noqa: F811
                                                                 lineage) -> None:
    store, _, second = lineage
    fourth = register(store, data, "good").version
    decision = _record_for(store, cfg, data, fourth, "good")
    # The second keeps every mandatory check but the comparison with v2, the third every one
    # but the comparison with the logged ranking.
    for kept in ([], ["ndcg_floor", "logging_baseline", "onnx_parity", "data_gate_2"],
                 ["ndcg_floor", "non_regression", "churn", "onnx_parity", "data_gate_2"]):
        document = json.loads(decision.record.read_text())
        document["checks"] = [c for c in document["checks"] if c["name"] in kept]
        decision.record.write_text(json.dumps(document))
        # Even with the digest re-logged, as a bug in the gate would have done.
        store.client.set_model_version_tag(store.model_name, fourth, TAG_DECISION_SHA256,
                                           __import__("hashlib").sha256(
                                               decision.record.read_bytes()).hexdigest())
        with pytest.raises(RankctError, match="mandatory check"):
            apply_decision(store, fourth, decision.record)
        assert champion_version(store) == second


def test_a_rolled_back_version_is_never_promoted_again(cfg, data, lineage, capsys) -> None:  # noqa: F811
    store, first, second = lineage
    record = cfg.reports_dir / "model_gate" / store.model_name / f"v{second}" / "decision.json"
    assert cli.main(["rollback"]) == 0
    assert champion_version(store) == first
    # The promote task of v2's day, retried or cleared after the rollback:
    with pytest.raises(RankctError, match="was rolled back: it is not promoted again"):
        apply_decision(store, second, record, run="scheduled__2026-11-05")
    assert champion_version(store) == first
    capsys.readouterr()
    assert cli.main(["models", "--history"]) == 0
    history = capsys.readouterr().out
    assert "rollback" in history and f"v{second} -> v{first}" in history
    changes = read_history(store.state_dir)
    assert [c.action for c in changes] == [AliasAction.PROMOTE, AliasAction.PROMOTE,
                                           AliasAction.ROLLBACK]
    assert changes[1].decision_sha256 == store.client.get_model_version(
        store.model_name, second).tags[TAG_DECISION_SHA256]
    assert changes[2].version == first and changes[2].previous == second
    assert changes[2].run == "cli" and "@" in changes[2].actor


_HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_alias_changes_wait_for_the_lock_and_give_up_cleanly(cfg, lineage) -> None:
    store = lineage[0]
    serving = champion_version(store)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK,
                               str(store.state_dir / "aliases.lock"), "30"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="another alias change"):
            rollback(store)
        assert time.monotonic() - started >= cfg.mlflow.lock_timeout_seconds
    finally:
        holder.kill()
        holder.wait()
    assert champion_version(store) == serving  # nothing moved while another writer held it


_LOCK_SQLITE = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
"""


@pytest.mark.slow
def test_a_locked_store_is_retried_and_never_read_as_no_champion(cfg, lineage, tmp_path) -> None:
    """MLflow waits 20 s on a locked SQLite, then fails; rankct retries instead of answering
    "no champion" (which would judge the next challenger on the floors alone). The two cases
    wait at once, each on a copy of the store's database: MLflow's wait is a fixed 20 s."""
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    store = lineage[0]
    serving = champion_version(store)
    database = Path(store.tracking_uri.removeprefix("sqlite:///"))

    def read_while_locked(hold: int, attempts: int) -> str | None:
        copy = tmp_path / f"{attempts}_attempts" / database.name
        copy.parent.mkdir()
        shutil.copyfile(database, copy)
        local = cfg.model_copy(deep=True)
        local.mlflow.tracking_uri = local.mlflow.registry_uri = f"sqlite:///{copy}"
        local.mlflow.retry_attempts, local.mlflow.retry_backoff_seconds = attempts, 1.0
        locked = open_store(local)
        holder = subprocess.Popen([sys.executable, "-c", _LOCK_SQLITE, str(copy), str(hold)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline() == "locked\n"
            return alias_version(locked, "champion")
        finally:
            holder.kill()
            holder.wait()

    with ThreadPoolExecutor(max_workers=2) as pool:
        # Held longer than every attempt: an outage, said so.
        outage = pool.submit(read_while_locked, 40, 1)
        # Released while rankct retries: the real champion.
        retried = pool.submit(read_while_locked, 22, 2)
        with pytest.raises(ServiceUnavailable, match="database is locked"):
            outage.result()
        assert retried.result() == serving


def test_an_unreachable_database_is_an_outage_not_bad_input(cfg) -> None:
    from tests.e2e.conftest import free_port

    down = cfg.model_copy(deep=True)
    down.mlflow.tracking_uri = f"postgresql+psycopg2://rankct@127.0.0.1:{free_port()}/mlflow"
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="did not answer") as raised:
        open_store(down)
    assert raised.value.retryable and raised.value.exit_code == 4
    assert time.monotonic() - started < 30
    bad = cfg.model_copy(deep=True)
    bad.mlflow.tracking_uri = "nosuchscheme://x"
    with pytest.raises(RankctError, match="is unusable") as raised:
        open_store(bad)
    assert not raised.value.retryable
