"""The daily training run, stage by stage, on the five days of the tiny marketplace: three
warm-up days (the first has no feature history), a first champion judged on floors, a second day
judged against it, and a challenger trained on shuffled labels that the gate rejects while the
champion stays."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from rankct.errors import DataGateFailed

from tests.conftest import START

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAYS = [START + timedelta(days=i) for i in range(5)]


@pytest.fixture(scope="module")
def pipeline_home(tiny_market, config, tmp_path_factory):
    cfg = config.model_copy(deep=True)
    cfg.home = tmp_path_factory.mktemp("pipeline_home")
    (cfg.home / "data").mkdir()
    for sub in ("raw", "truth"):
        (cfg.home / "data" / sub).symlink_to(tiny_market / sub)
    cfg.pipeline.min_history_days = 3
    cfg.gate.min_ndcg = 0.2
    cfg.gate.n_resamples = 2000
    cfg.training.num_boost_round = 60
    return cfg


def _prepare(cfg, day, spark) -> None:
    from rankct.pipeline import prepare

    prepare.validate_raw(cfg, day, spark)
    prepare.build_features(cfg, day, spark)
    prepare.materialize(cfg, day)


def _train_and_judge(cfg, day, spark) -> dict:
    from rankct.pipeline import challenger, decide, evaluate, prepare

    prepare.make_training_set(cfg, day, spark)
    challenger.validate_training_set(cfg, day)
    challenger.train_challenger(cfg, day, airflow_run_id=f"test__{day}")
    evaluate.evaluate_challenger(cfg, day)
    return decide.gate_challenger(cfg, day)


def test_daily_runs_promote_then_compare_then_reject_a_degraded_model(pipeline_home, spark,
                                                                      monkeypatch) -> None:
    from rankct.cli import main
    from rankct.pipeline import decide, prepare
    from rankct.pipeline.day import DayRun
    from rankct.registry import champion_version, list_versions, open_store

    cfg = pipeline_home
    for day in DAYS[:3]:
        _prepare(cfg, day, spark)
        assert not prepare.has_enough_history(cfg, day)  # warm-up: no training yet
    assert prepare.usable_days(cfg, DAYS[2]) == DAYS[1:3]  # day 1 has no features to join

    _prepare(cfg, DAYS[3], spark)
    first = _train_and_judge(cfg, DAYS[3], spark)
    assert first["passed"], first["reasons"]
    store = open_store(cfg)
    assert champion_version(store) == first["version"]
    record = json.loads(Path(first["record"]).read_text())
    assert {c["name"] for c in record["checks"]} >= {"ndcg_floor", "onnx_parity", "data_gate_2"}
    shipped = decide.ship_champion(cfg, DAYS[3])
    assert shipped["shipped"] and (cfg.home / "exports").exists()
    assert shipped["notify"]["status"] == "skipped"  # no webhook configured in tests
    # serve-check resolves the champion in the registry and checks its exported bundle.
    monkeypatch.setenv("RANKCT_HOME", str(cfg.home))
    assert main(["serve-check"]) == 0

    _prepare(cfg, DAYS[4], spark)
    second = _train_and_judge(cfg, DAYS[4], spark)
    evaluated = DayRun(cfg, DAYS[4]).read("evaluate")
    assert evaluated["champion"] == first["version"] and evaluated["churn"] is not None
    assert set(evaluated["metrics"]) == {"challenger", "champion"}
    assert (cfg.home / "reports" / "ranking").exists()
    champion_before = champion_version(store)
    assert champion_before == (second["version"] if second["passed"] else first["version"])

    # A challenger trained on shuffled labels: the gate rejects it, the champion stays.
    run = DayRun(cfg, DAYS[4])
    import pandas as pd

    frame = pd.read_parquet(run.training_set)
    # Train and validation labels shuffled; the test day keeps its true labels to judge by.
    past = frame["event_timestamp"].dt.date < DAYS[4]
    frame.loc[past, "grade"] = frame.loc[past, "grade"].sample(frac=1.0, random_state=0).to_numpy()
    import pyarrow as pa
    from rankct.io import write_partition

    write_partition(pa.Table.from_pandas(frame, preserve_index=False), run.training_set)
    from rankct.pipeline import challenger, evaluate

    challenger.train_challenger(cfg, DAYS[4])
    evaluate.evaluate_challenger(cfg, DAYS[4])
    bad = decide.gate_challenger(cfg, DAYS[4])
    assert not bad["passed"] and bad["reasons"]
    assert champion_version(store) == champion_before
    tags = {v.version: v for v in list_versions(store)}
    assert bad["version"] in tags
    assert decide.ship_champion(cfg, DAYS[4])["shipped"] is False
    assert main(["serve-check", "--version", bad["version"]]) == 2  # never exported


def test_a_bad_day_stops_at_the_data_gate(pipeline_home, spark, tmp_path) -> None:
    from rankct.pipeline import prepare
    from rankct.simulate import simulate

    cfg = pipeline_home.model_copy(deep=True)
    cfg.home = tmp_path / "bad_home"
    simulate(cfg.data_root, days=2, scale="tiny", seed=3, start=START,
             faults={"events_before_impression": "2"})
    prepare.validate_raw(cfg, START, spark)
    with pytest.raises(DataGateFailed, match="events"):
        prepare.validate_raw(cfg, START + timedelta(days=1), spark)
    assert START + timedelta(days=1) in prepare.stopped_days(cfg)
