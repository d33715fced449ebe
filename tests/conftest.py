"""Shared fixtures: one SparkSession per test session, small simulated marketplaces."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from rankct.config import RankctConfig, SparkConfig, load_config

START = date(2026, 11, 1)

# The suite's JVMs (each worker's Spark session, the Connect servers, the spark-submit jobs, the
# prod stack's master and workers) live minutes and see tiny data, and the suite is CPU-bound on
# two cores: the C2 compiler's work never pays back there (30 s of the 97 s of JVM CPU a tiny
# day's data gate and feature build took). The JIT tier does not change Java's arithmetic: the
# outputs are the same bytes. The collector stays the default (G1). The serial one, tried with
# it, fixes the old generation at 1.3 GB of a worker session's 2 GB, and that generation holds
# the session's spent broadcasts until Spark's cleaner drops them (1.0 GB used, 0.5 GB of it
# broadcast pages, seen mid-suite): a worker's JVM died under it in a clean-clone CI, most
# likely out of memory (the report hook below now says how a JVM ended). Set before any JVM
# starts; every process the tests start inherits it.
os.environ.setdefault("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1")

# `make test` spreads the suite over two workers (pytest-xdist); each worker builds the session
# fixtures its tests use. The modules sharing one of these fixtures run on one worker, so it is
# built once and the state it holds (the end-to-end runs' homes, the Feast repository on Redis
# db 7, the emulators) has one user at a time; every other module is a unit of its own.
SHARED_FIXTURES = {"end_to_end": "end_to_end", "gcp_emulators": "gcp_emulators",
                   "applied": "feast_applied", "tiny_features": "tiny_features"}
# The scheduler (in the controller, which collects nothing) sees node ids only, hence the
# modules are named here; collection checks the table against the fixtures each test uses.
MODULE_GROUPS = {
    **dict.fromkeys(["tests/e2e/test_monitoring_checks.py", "tests/e2e/test_prod_scheduler.py",
                     "tests/e2e/test_training_dag.py", "tests/e2e/test_uis.py"], "end_to_end"),
    **dict.fromkeys(["tests/e2e/test_gcp_run.py", "tests/integration/test_bigquery_connection.py",
                     "tests/integration/test_bigquery_gate.py", "tests/integration/test_bq_export.py",
                     "tests/integration/test_bq_load.py", "tests/integration/test_gcs_artifacts.py"],
                    "gcp_emulators"),
    **dict.fromkeys(["tests/integration/test_faults.py", "tests/integration/test_feast_store.py",
                     "tests/integration/test_materialize.py"], "feast_applied"),
    **dict.fromkeys(["tests/integration/test_point_in_time.py",
                     "tests/integration/test_training_slices.py"], "tiny_features"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::")[0]
        for fixture, group in SHARED_FIXTURES.items():
            if fixture in item.fixturenames and MODULE_GROUPS.get(module) != group:
                raise pytest.UsageError(
                    f"{module} uses the shared fixture {fixture!r}: add it to the "
                    f"{group!r} modules of MODULE_GROUPS in tests/conftest.py")


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: absent when it is not installed
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Modules as units of work (xdist's ``loadscope``), the grouped ones as one unit each.
    (xdist's own ``loadgroup`` renames node ids, which pytest 9 no longer lets it do.)"""
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return MODULE_GROUPS.get(module, module)

    return SharedFixtureScheduling(config, log)


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> RankctConfig:
    """The local profile with its state in a temporary RANKCT_HOME."""
    home = tmp_path_factory.mktemp("rankct_home")
    cfg = load_config("local", environ={"RANKCT_HOME": str(home)})
    # Tests run on 2 cores: a few shuffle partitions are faster than the default.
    cfg.spark = SparkConfig(master="local[2]", driver_memory="2g", shuffle_partitions=4)
    return cfg


# The worker's Spark JVM, once started: when it dies, every later test of the worker fails with
# py4j's "Connection refused", which does not say why; the report hook below does.
_SESSION_JVM: list = []


@pytest.fixture(scope="session")
def spark(config: RankctConfig):
    """The single SparkSession of the test run (starting a JVM costs seconds)."""
    from rankct.spark import get_spark

    os.environ.setdefault("RANKCT_SPARK_TMP", str(config.home / "spark-tmp"))
    session = get_spark(config.spark, app_name="rankct-tests")
    _SESSION_JVM.append(session.sparkContext._gateway.proc)
    yield session
    _SESSION_JVM.clear()
    session.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test whose worker's Spark JVM has exited says how it exited (a signal, an exit
    status, the JVM's own crash file, the memory left), once: the cause of the cascade."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed or not _SESSION_JVM or _SESSION_JVM[0].poll() is None:
        return
    from tests.jvm_report import jvm_exit_report

    report.sections.append(("Spark JVM", jvm_exit_report(_SESSION_JVM.pop())))


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
