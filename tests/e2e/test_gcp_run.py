"""The gcp profile end to end, on the emulators: four days of the tiny simulated market (250
requests a day; what is shown here does not grow with the data) loaded into the emulated
BigQuery (`rankct bq load`), then `rankct run --profile gcp` over them: three warm-up days and a
trained day. Every day's data gate 1 runs as BigQuery jobs and exports the validated day to the
offline store, the Spark feature jobs, Feast (Redis online store, as Memorystore would be) and
training run as on the other profiles, and the champion's export bundle is logged to MLflow's
artifact root on the emulated gs://, where the deployment payload names it.

Models trained on three tiny days need the end-to-end tests' tolerant gate to be promoted
(tests/e2e/conftest.py). Its own dataset, bucket and Redis db (10) are used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import START
from tests.services import announce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RANKCT = str(Path(sys.executable).parent / "rankct")
DAYS = 4
SCALE = "tiny"
TOLERANT = {  # tests/e2e/conftest.py's settings for a young market
    "RANKCT__PIPELINE__MIN_HISTORY_DAYS": "3", "RANKCT__GATE__MIN_NDCG": "0.2",
    "RANKCT__GATE__BASELINE_MARGIN": "1.0", "RANKCT__GATE__N_RESAMPLES": "2000",
    "RANKCT__TRAINING__NUM_BOOST_ROUND": "60",
    "RANKCT__MONITORING__MAX_FEATURE_DRIFT_SHARE": "0.9", "RANKCT_RETRY_DELAY_SECONDS": "5",
    "RANKCT__SPARK__DRIVER_MEMORY": "2g", "RANKCT__SPARK__SHUFFLE_PARTITIONS": "4",
}


@pytest.fixture(scope="module")
def gcp_run(gcp_emulators, tmp_path_factory):
    import redis
    from rankct.simulate import simulate

    home = tmp_path_factory.mktemp("gcp_home")
    tag = uuid.uuid4().hex[:8]
    bucket, dataset = f"rankct-e2e-{tag}", f"e2e_{tag}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "AIRFLOW_", "AIRFLOW__", "RANKCT", "SPARK_REMOTE",
                                "STORAGE_EMULATOR_HOST"))}
    env.update({**TOLERANT, **gcp_emulators.environment(), "RANKCT_HOME": str(home),
                "RANKCT_PROFILE": "gcp", "RANKCT__GCP__DATASET": dataset,
                "RANKCT__GCP__BUCKET": bucket, "RANKCT_MLFLOW_ARTIFACTS": f"gs://{bucket}/mlflow",
                "RANKCT__GCP__RETRY_DEADLINE_SECONDS": "30",
                "RANKCT_REDIS": "127.0.0.1:6379,db=10"})
    redis.Redis(host="127.0.0.1", port=6379, db=10).flushdb()  # this test's own db
    from rankct.config import load_config
    from rankct.gcp.clients import bigquery_client, storage_client

    gcp = load_config("gcp", environ=env).gcp
    storage_client(gcp).create_bucket(bucket)
    data = tmp_path_factory.mktemp("gcp_market")
    simulate(data, days=DAYS, scale=SCALE, seed=11, start=START)
    last = START + timedelta(days=DAYS - 1)
    try:
        load = subprocess.run([RANKCT, "bq", "load", "--data-root", str(data)], env=env,
                              capture_output=True, text=True, timeout=900, check=False)
        assert load.returncode == 0, load.stdout + load.stderr
        run = subprocess.run([RANKCT, "run", "--from", START.isoformat(), "--to",
                              last.isoformat()], env=env, capture_output=True, text=True,
                             timeout=2400, check=False)
        status = subprocess.run([RANKCT, "status", "--json"], env=env, capture_output=True,
                                text=True, timeout=300, check=False)
        objects = [blob.name for blob in storage_client(gcp).list_blobs(bucket)]
        yield {"env": env, "home": home, "run": run, "status": status, "objects": objects,
               "bucket": bucket, "last": last}
    finally:
        bigquery_client(gcp).delete_dataset(f"{gcp.project}.{dataset}", delete_contents=True,
                                            not_found_ok=True)


def test_rankct_run_on_bigquery_leaves_a_champion_whose_bundle_is_on_gs(gcp_run,
                                                                         monkeypatch) -> None:
    from rankct.config import load_config
    from rankct.deploy.announce import deployment_payload
    from rankct.deploy.contract import Decision
    from rankct.pipeline.day import DayRun
    from rankct.pipeline.outcome import Outcome
    from rankct.registry import open_store

    run = gcp_run["run"]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    for key in ("RANKCT_MLFLOW_ARTIFACTS", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(key, raising=False)  # open_store sets the emulator's; undone after
    monkeypatch.setenv("RANKCT_MLFLOW_ARTIFACTS", gcp_run["env"]["RANKCT_MLFLOW_ARTIFACTS"])
    config = load_config("gcp", environ=gcp_run["env"])
    outcomes = [DayRun(config, START + timedelta(days=i)).outcome() for i in range(DAYS)]
    assert [o["state"] for o in outcomes[:3]] == [Outcome.WARM_UP] * 3
    promoted = [o for o in outcomes if o["state"] == Outcome.PROMOTED]
    assert promoted, [o["state"] for o in outcomes]
    # Data gate 1 ran in BigQuery every day (its query jobs) and exported the day.
    for i in range(DAYS):
        gate = DayRun(config, START + timedelta(days=i)).read("validate_raw")
        assert gate["passed"] and gate["bigquery_jobs"], gate
    assert gcp_run["status"].returncode == 0, gcp_run["status"].stderr
    champion = json.loads(gcp_run["status"].stdout)["champion"]
    version = str(champion["version"])
    assert version == str(promoted[-1]["version"])
    day = next(START + timedelta(days=i) for i in range(DAYS)
               if str(outcomes[i].get("version")) == version)
    bucket = gcp_run["bucket"]
    assert DayRun(config, day).read("export")["artifact_uri"].startswith(f"gs://{bucket}/mlflow/")
    # The deployment payload the notify task signs names the bundle on gs://, and it is there.
    payload = deployment_payload(config, open_store(config), version, Decision.PROMOTED)
    bundle_uri = payload.artifacts["bundle"]
    assert bundle_uri.startswith(f"gs://{bucket}/mlflow/"), payload.artifacts
    prefix = bundle_uri.removeprefix(f"gs://{bucket}/") + "/"
    bundle = [name for name in gcp_run["objects"] if name.startswith(prefix)]
    assert prefix + "model.onnx" in bundle, (prefix, gcp_run["objects"][:60])
    announce(f"rankct run --profile gcp: {DAYS} {SCALE} days from the emulated BigQuery, champion "
             f"v{version}, {len(bundle)} bundle objects under {bundle_uri}")
