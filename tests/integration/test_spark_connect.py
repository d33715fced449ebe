"""The classic and the Spark Connect path compute the same things: the data gate's verdicts, the
feature tables and the point-in-time training set of the tiny marketplace, once with this test
session's own JVM and once attached to a Connect server (as every task of `rankct run` is)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta

import pytest

from tests.conftest import START

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# Two days: the second day's impressions join the first day's features. Each tiny day costs
# 10 to 20 s a side in Spark jobs whatever its size, so no day more than the join needs.
DAYS = [START + timedelta(days=i) for i in range(2)]


def _home(config, tiny_market, tmp_path_factory, name: str):
    cfg = config.model_copy(deep=True)
    cfg.home = tmp_path_factory.mktemp(name)
    (cfg.home / "data").mkdir()
    (cfg.home / "data" / "raw").symlink_to(tiny_market / "raw")
    return cfg


def _outputs(cfg, spark) -> dict[str, object]:
    """Gate verdicts, feature table contents and the training set of DAYS, computed on ``spark``."""
    import pyarrow.parquet as pq
    from rankct.pipeline import prepare
    from rankct.registry.runs import dataset_fingerprint
    from rankct.training_set import training_set

    verdicts = {}
    for day in DAYS:
        prepare.validate_raw(cfg, day, spark)
        prepare.build_features(cfg, day, spark)
        result = json.loads((cfg.reports_dir / "data_gate" / f"dt={day}" / "result.json")
                            .read_text())
        verdicts[day.isoformat()] = [{k: v for k, v in check.items() if k != "partition"}
                                     for check in result["checks"]]
    features = hashlib.sha256()
    for path in sorted((cfg.data_root / "features").rglob("*.parquet")):
        table = pq.read_table(path)
        features.update(path.relative_to(cfg.data_root).as_posix().encode())
        features.update(str(table.schema).encode() + dataset_fingerprint(table.to_pandas())
                        .encode())
    prepare.apply_feature_repo(cfg)
    frame = training_set(spark, cfg.data_root, DAYS[1], DAYS[1], cfg)
    return {"verdicts": verdicts, "features": features.hexdigest(),
            "training_set": dataset_fingerprint(frame), "rows": len(frame)}


_CONNECTED = """
import json, sys
from pathlib import Path
from rankct.config import load_config
from rankct.spark import get_spark
from tests.integration.test_spark_connect import _outputs
cfg = load_config("local", environ={"RANKCT_HOME": sys.argv[1]})
cfg.spark.remote = sys.argv[2]
cfg.spark.shuffle_partitions = int(sys.argv[3])
session = get_spark(cfg.spark)
assert type(session).__module__.startswith("pyspark.sql.connect"), type(session)
print("OUTPUTS " + json.dumps(_outputs(cfg, session)))
"""


def test_classic_and_connect_give_the_same_gate_features_and_training_set(
        config, spark, spark_connect, tiny_market, tmp_path_factory) -> None:
    import subprocess
    import sys
    from pathlib import Path

    classic = _outputs(_home(config, tiny_market, tmp_path_factory, "classic_home"), spark)
    # PySpark will not open a Connect session beside a classic one: the Connect side runs in a
    # process of its own, as a task of `rankct run` does.
    home = _home(config, tiny_market, tmp_path_factory, "connect_home").home
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "plugins"), str(root)])}
    done = subprocess.run([sys.executable, "-c", _CONNECTED, str(home), spark_connect,
                           str(config.spark.shuffle_partitions)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("OUTPUTS "))
    connected = json.loads(line.removeprefix("OUTPUTS "))
    assert classic["rows"] > 500
    assert connected == json.loads(json.dumps(classic))
