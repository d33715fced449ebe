"""Alerts and the failure callback every task carries; per-run overrides and the run's day."""

from __future__ import annotations

import json
from datetime import date
from types import SimpleNamespace

import pendulum
import pytest
from rankct.alerts import Alert, raise_alert, recent_alerts
from rankct.config import load_config, with_overrides
from rankct.deploy.contract import SIGNATURE_HEADER, signature_matches
from rankct.errors import ConfigError, RankctError

from tests.webhook import Receiver


@pytest.fixture
def cfg(tmp_path):
    return load_config("local", environ={"RANKCT_HOME": str(tmp_path)})


def test_an_alert_is_recorded_and_sent_signed(cfg, monkeypatch) -> None:
    monkeypatch.setenv("RANKCT_ALERT_SECRET", "k3y")
    with Receiver([200]) as receiver:
        cfg.alerts.url = receiver.url
        path = raise_alert(cfg, Alert("ranker_monitoring.score_drift", "scores moved", "2026-11-06"))
    record = json.loads(path.read_text())
    assert record["delivery"] == "sent" and record["message"] == "scores moved"
    headers, body = receiver.requests[0]
    assert signature_matches(body, "k3y", headers[SIGNATURE_HEADER])
    assert json.loads(body)["event"] == "rankct-alert"
    assert recent_alerts(cfg)[0]["source"] == "ranker_monitoring.score_drift"


def test_an_undeliverable_alert_is_still_recorded(cfg) -> None:
    with Receiver([500]) as receiver:
        cfg.alerts.url = receiver.url
        path = raise_alert(cfg, Alert("x.y", "boom"))
    assert json.loads(path.read_text())["delivery"] == "undelivered: HTTP 500"


def _context(cfg, dag_id: str, error: str | None, **extra):
    ti = SimpleNamespace(dag_id=dag_id, task_id="materialize", run_id="manual__2026-11-06T03:00")
    return {"ti": ti, "logical_date": pendulum.datetime(2026, 11, 6, tz="UTC"), "params": {},
            "exception": RankctError(error) if error else None, **extra}


def test_failure_callback_alerts_and_records_the_failed_day(cfg, monkeypatch) -> None:
    from rankct.airflow.callbacks import alert_on_failure
    from rankct.pipeline.day import DayRun

    monkeypatch.setenv("RANKCT_HOME", str(cfg.home))
    run = DayRun(cfg, date(2026, 11, 6))
    run.record_outcome("running", "data gate 1")
    alert_on_failure(_context(cfg, "ranker_continuous_training", "redis is down"))
    outcome = run.outcome()
    assert outcome["state"] == "failed" and outcome["task"] == "materialize"
    assert "redis is down" in outcome["detail"]
    alert = recent_alerts(cfg)[0]
    assert alert["day"] == "2026-11-06" and alert["links"]["log"].endswith(
        "/dags/ranker_continuous_training/runs/manual__2026-11-06T03%3A00/tasks/materialize")


def test_failure_callback_keeps_a_deliberate_stop(cfg, monkeypatch) -> None:
    from rankct.airflow.callbacks import alert_on_failure
    from rankct.pipeline.day import DayRun

    monkeypatch.setenv("RANKCT_HOME", str(cfg.home))
    run = DayRun(cfg, date(2026, 11, 6))
    run.record_outcome("stopped at data gate 1", "impressions.position: nulls")
    # `airflow dags test` passes the stage's message under the operator's key instead.
    alert_on_failure(_context(cfg, "ranker_continuous_training", None,
                              rankct_failure="data gate 1 failed"))
    assert run.outcome()["state"] == "stopped at data gate 1"
    assert recent_alerts(cfg)[0]["message"] == "data gate 1 failed"


def test_overrides_are_validated(cfg) -> None:
    assert with_overrides(cfg, {"gate.max_drift_share": 0.7}).gate.max_drift_share == 0.7
    with pytest.raises(ConfigError, match="no such setting"):
        with_overrides(cfg, {"gate.max_drift": 0.7})
    with pytest.raises(ConfigError, match="less than or equal to 1"):
        with_overrides(cfg, {"gate.max_drift_share": 7})


def test_run_params_and_day(cfg, monkeypatch) -> None:
    from rankct.airflow.runtime import run_config, run_day, run_overrides

    params = {"training_objective": "rank:pairwise", "max_drift_share": None,
              "overrides": {"training.eta": 0.05}}
    assert run_overrides(params) == {"training.objective": "rank:pairwise", "training.eta": 0.05}
    monkeypatch.setenv("RANKCT_HOME", str(cfg.home))
    config = run_config({"params": params})
    assert (config.training.objective, config.training.eta) == ("rank:pairwise", 0.05)
    assert run_day({"logical_date": pendulum.datetime(2026, 11, 6, 3, tz="UTC")}) == date(
        2026, 11, 6)
    event = SimpleNamespace(extra={"day": "2026-11-05", "version": "3"})
    assert run_day({"logical_date": None,
                    "triggering_asset_events": {"champion": [event]}}) == date(2026, 11, 5)
    with pytest.raises(RankctError, match="neither a logical date"):
        run_day({"logical_date": None, "triggering_asset_events": {}})
