"""Feast repositories applied over two days of the tiny marketplace, shared by the integration
modules: one on the local profile (SQLite online store), one on the prod profile (Redis)."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from tests.conftest import START
from tests.services import announce

LAST = START + timedelta(days=1)


@pytest.fixture(scope="session")
def applied(tiny_market, config, spark):
    """Feature tables of START..LAST under a fresh state folder, `feast plan` and `feast apply`
    done on the local profile."""
    from rankct.features.build import build_range
    from rankct.online.feast_repo import feast_cli

    cfg = config.model_copy(deep=True)
    cfg.home = tiny_market.parent / "feast_home"
    # The feature tables live under the state folder's data root, as in production.
    data = cfg.home / "data"
    data.mkdir(parents=True)
    os.symlink(tiny_market / "raw", data / "raw")
    build_range(spark, data, START, LAST, cfg)
    plan = feast_cli(cfg, "plan")
    assert "ranker_v1" in plan
    feast_cli(cfg, "apply")
    return cfg


@pytest.fixture(scope="session")
def applied_redis(applied, spark):
    """The same feature tables registered under the prod profile, whose online store is Redis."""
    from rankct.online.feast_repo import feast_cli

    from tests.services import redis_endpoint

    with redis_endpoint() as redis:
        announce(f"Redis online store tests use the {redis.backend} at {redis.host}:{redis.port}")
        cfg = applied.model_copy(deep=True)
        cfg.profile = "prod"
        cfg.home = applied.home.parent / "feast_home_redis"
        (cfg.home / "data").mkdir(parents=True, exist_ok=True)
        if not (cfg.home / "data" / "features").exists():
            (cfg.home / "data" / "features").symlink_to(applied.home / "data" / "features")
        # Database 7 keeps the tests' keys apart from anything else on a shared local Redis.
        os.environ["RANKCT_REDIS"] = f"{redis.host}:{redis.port},db=7"
        feast_cli(cfg, "apply")
        yield cfg


@pytest.fixture()
def bq_config(gcp_emulators, config, request):
    """The gcp profile pointed at the emulators, with a dataset of this test's own (deleted
    afterwards) and short retry deadlines: the emulator's failures would retry for minutes."""
    import re
    import uuid

    from rankct.gcp.clients import bigquery_client

    cfg = config.model_copy(deep=True)
    cfg.profile = "gcp"
    name = re.sub(r"\W", "_", request.node.name)[:40]
    cfg.gcp = cfg.gcp.model_copy(update={
        "project": gcp_emulators.project, "dataset": f"t_{name}_{uuid.uuid4().hex[:6]}",
        "bigquery_endpoint": gcp_emulators.url("bigquery"),
        "storage_endpoint": gcp_emulators.url("storage"), "raw_store": "bigquery",
        "retry_deadline_seconds": 15.0, "request_timeout_seconds": 60.0})
    yield cfg
    bigquery_client(cfg.gcp).delete_dataset(f"{cfg.gcp.project}.{cfg.gcp.dataset}",
                                            delete_contents=True, not_found_ok=True)
