"""One end-to-end run shared by the e2e modules: six days of a tiny marketplace, the fifth
damaged; the first three prepared with the library (they can only be warm-up days: a training
window needs three days with features), then the training DAG for days 4, 5 and 6 through
`airflow dags test`, then the batch-scoring and monitoring DAGs for day 6."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from tests.conftest import START

DAYS = [START + timedelta(days=i) for i in range(6)]
BAD_DAY = DAYS[4]


def config_environment(cfg) -> dict[str, str]:
    """The test configuration as environment overrides, for the Airflow processes (their tasks
    load the configuration themselves)."""
    return {
        "RANKCT_HOME": str(cfg.home),
        "RANKCT__SPARK__MASTER": cfg.spark.master,
        "RANKCT__SPARK__DRIVER_MEMORY": cfg.spark.driver_memory,
        "RANKCT__SPARK__SHUFFLE_PARTITIONS": str(cfg.spark.shuffle_partitions),
        **({"RANKCT__SPARK__REMOTE": cfg.spark.remote} if cfg.spark.remote else {}),
        "RANKCT__PIPELINE__MIN_HISTORY_DAYS": str(cfg.pipeline.min_history_days),
        "RANKCT__GATE__MIN_NDCG": str(cfg.gate.min_ndcg),
        "RANKCT__GATE__N_RESAMPLES": str(cfg.gate.n_resamples),
        "RANKCT__GATE__BASELINE_MARGIN": str(cfg.gate.baseline_margin),
        "RANKCT__TRAINING__NUM_BOOST_ROUND": str(cfg.training.num_boost_round),
        "RANKCT__MONITORING__MAX_FEATURE_DRIFT_SHARE": str(cfg.monitoring.max_feature_drift_share),
        # Task links point at the UIs the browser test starts.
        "RANKCT__UI__AIRFLOW_URL": cfg.ui.airflow_url,
        "RANKCT__UI__MLFLOW_URL": cfg.ui.mlflow_url,
        "RANKCT__UI__EVIDENTLY_URL": cfg.ui.evidently_url,
        "RANKCT_RETRY_DELAY_SECONDS": "5",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare_history(cfg, days, spark=None) -> None:
    """The stages a DAG run of each of ``days`` runs before its history check, with the
    library: data gate 1, features, then :func:`register_history`."""
    from rankct.pipeline import prepare

    for day in days:
        prepare.validate_raw(cfg, day, spark)
        prepare.build_features(cfg, day, spark)
    register_history(cfg, days)


def register_history(cfg, days) -> None:
    """The stages after the features of each of ``days``: Feast's apply, materialization."""
    from rankct.pipeline import prepare

    prepare.apply_feature_repo(cfg)
    for day in days:
        prepare.materialize(cfg, day)


@dataclass
class EndToEnd:
    config: object
    report: object  # rankct.orchestrate.run.PipelineReport
    env: dict[str, str]


@pytest.fixture(scope="session")
def end_to_end(config, spark, spark_connect, tmp_path_factory) -> EndToEnd:
    from rankct.orchestrate.run import run_pipeline
    from rankct.simulate import simulate

    cfg = config.model_copy(deep=True)
    cfg.home = tmp_path_factory.mktemp("e2e_home")
    cfg.spark.remote = spark_connect  # every task and job of the run attaches to it
    cfg.pipeline.min_history_days = 3
    cfg.gate.min_ndcg = 0.2
    # As in tests/integration/test_pipeline.py: the tiny market's models, trained on two or three
    # days, do not beat the production ranker, and the gate rightly rejects them for it
    # (tests/unit/test_logged_baseline.py). These tests need a first champion to exercise
    # promotion, scoring and monitoring, so any deficit is tolerated here.
    cfg.gate.baseline_margin = 1.0
    cfg.gate.n_resamples = 2000
    cfg.training.num_boost_round = 60
    # The tiny world's windows fill up day by day: most columns move while history grows.
    cfg.monitoring.max_feature_drift_share = 0.9
    cfg.ui.airflow_url, cfg.ui.mlflow_url, cfg.ui.evidently_url = (
        f"http://127.0.0.1:{free_port()}" for _ in range(3))
    simulate(cfg.data_root, days=len(DAYS), scale="tiny", seed=11, start=START,
             faults={"events_before_impression": BAD_DAY.isoformat()})
    prepare_history(cfg, DAYS[:3], spark)  # history the first DAG run trains on
    env = config_environment(cfg)
    report = run_pipeline(cfg, DAYS[3], DAYS[5], extra_env=env)
    return EndToEnd(cfg, report, env)


def training_days(e2e: EndToEnd) -> dict[date, dict]:
    return {result.day: outcome for result, outcome in e2e.report.days}
