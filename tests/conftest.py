"""Shared fixtures: one SparkSession per test session, small simulated marketplaces."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from rankct.config import RankctConfig, SparkConfig, load_config

START = date(2026, 11, 1)


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> RankctConfig:
    """The local profile with its state in a temporary RANKCT_HOME."""
    home = tmp_path_factory.mktemp("rankct_home")
    cfg = load_config("local", environ={"RANKCT_HOME": str(home)})
    # Tests run on 2 cores: a few shuffle partitions are faster than the default.
    cfg.spark = SparkConfig(master="local[2]", driver_memory="2g", shuffle_partitions=4)
    return cfg


@pytest.fixture(scope="session")
def spark(config: RankctConfig):
    """The single SparkSession of the test run (starting a JVM costs seconds)."""
    from rankct.spark import get_spark

    os.environ.setdefault("RANKCT_SPARK_TMP", str(config.home / "spark-tmp"))
    session = get_spark(config.spark, app_name="rankct-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_connect(config: RankctConfig, tmp_path_factory: pytest.TempPathFactory):
    """One Spark Connect server for the tests that run the way `rankct run` does (the
    end-to-end runs attach to it instead of starting their own)."""
    from rankct.spark_connect import free_port, start_server, stop_server

    server = start_server(config, tmp_path_factory.mktemp("spark_connect") / "server.log",
                          port=free_port())
    yield server.url
    stop_server(server)


@pytest.fixture(scope="session")
def tiny_market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five clean days of a tiny marketplace (about 5k impressions a day)."""
    from rankct.simulate import simulate

    root = tmp_path_factory.mktemp("tiny_market")
    simulate(root, days=5, scale="tiny", seed=11, start=START)
    return root


@pytest.fixture(scope="session")
def tiny_features(config: RankctConfig, tiny_market: Path, spark,
                  tmp_path_factory: pytest.TempPathFactory) -> RankctConfig:
    """A configuration of its own whose home holds the tiny market's five days with their
    features built and the feature repo applied (the training-set joins' input)."""
    from datetime import timedelta

    from rankct.pipeline import prepare

    cfg = config.model_copy(deep=True)
    cfg.home = tmp_path_factory.mktemp("tiny_features_home")
    (cfg.home / "data").mkdir()
    (cfg.home / "data" / "raw").symlink_to(tiny_market / "raw")
    for i in range(5):
        prepare.build_features(cfg, START + timedelta(days=i), spark)
    prepare.apply_feature_repo(cfg)
    return cfg


@pytest.fixture(scope="session")
def small_market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three clean days at the small (test) scale, about 50k impressions a day."""
    from rankct.simulate import simulate

    root = tmp_path_factory.mktemp("small_market")
    simulate(root, days=3, scale="small", seed=5, start=START)
    return root


@pytest.fixture(scope="session")
def gcp_emulators(tmp_path_factory):
    """The BigQuery and Cloud Storage emulators of .venv-gcp, started once for the session.

    Fails (never skips) when their environment is missing: `make setup-gcp` installs it.
    """
    from rankct.errors import RankctError
    from rankct.gcp import emulators

    try:
        emulators.emulator_python()
    except RankctError as exc:
        pytest.fail(f"{exc}: the BigQuery tests need the emulators' environment")
    folder = tmp_path_factory.mktemp("gcp_emulators")
    state = emulators.start(folder, "rankct-test")
    from tests.services import announce

    announce(f"BigQuery tests use bqemulator at {state.url('bigquery')}, Cloud Storage tests "
             f"gcp-storage-emulator at {state.url('storage')} (from .venv-gcp)")
    yield state
    emulators.stop(folder)
