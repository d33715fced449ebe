"""The one SparkSession of a process, configured once from the profile.

Feature jobs, the data gate and batch scoring all call ``get_spark``. With ``spark.remote`` (or
``SPARK_REMOTE``) set, it attaches to a Spark Connect server (:mod:`rankct.spark_connect` starts
one for a whole run), which takes well under a second and finds the JVM warm; otherwise it
starts a JVM in this process (``getOrCreate`` hands back the running session, so a process
never pays for a second one). Both get the same settings and compute the same results.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from rankct.config import SparkConfig

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType


# Seconds each SparkSession start of this process took (a JVM start, or attaching to the one
# spark-submit started, or to a Spark Connect server): what the pipeline benchmark counts as
# Spark start-up overhead.
SESSION_STARTS: list[float] = []
_REMOTE_SESSIONS: dict[str, Any] = {}


def scratch_dir() -> str:
    """Spark's scratch space and Derby's droppings, kept out of the working directory."""
    scratch = os.environ.get("RANKCT_SPARK_TMP", os.path.join(tempfile.gettempdir(), "rankct-spark"))
    os.makedirs(scratch, exist_ok=True)
    return scratch


def session_settings(config: SparkConfig) -> dict[str, str]:
    """Settings a session may set for itself (a Connect session sets them on attaching)."""
    return {
        "spark.sql.shuffle.partitions": str(config.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Write timestamps as UTC-adjusted micros (not legacy INT96), as the contract reads them.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }


def server_settings(config: SparkConfig, scratch: str | None = None) -> dict[str, str]:
    """Settings fixed when the JVM starts: for this process's session or a Connect server.
    ``scratch``: where it spills, keeps its warehouse and Derby's files (default
    :func:`scratch_dir`; the production stack's server keeps them under the stack's folder)."""
    scratch = scratch or scratch_dir()
    return {
        "spark.driver.memory": config.driver_memory,
        "spark.driver.maxResultSize": config.max_result_size,
        "spark.ui.enabled": str(config.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        # The JVM <-> Python worker streams (batch scoring's Arrow batches) buffer 1 MB, not
        # 64 KB: the scoring stage's JVM time fell from 2.9 to 2.4 us a row (bench/scoring.py).
        "spark.buffer.size": str(1 << 20),
        "spark.local.dir": scratch,
        "spark.sql.warehouse.dir": os.path.join(scratch, "warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={scratch}",
    }


def remote_url(config: SparkConfig | None) -> str | None:
    """The Spark Connect server this process uses, if any (the profile's, or ``SPARK_REMOTE``)."""
    return (config.remote if config else None) or os.environ.get("SPARK_REMOTE") or None


def get_spark(config: SparkConfig | None = None, app_name: str = "rankct") -> SparkSession:
    """Return the process's SparkSession: attached to ``config.remote`` when one is set,
    otherwise started here with ``config`` if none runs yet."""
    config = config or SparkConfig()
    remote = remote_url(config)
    if remote:
        return _remote_session(remote, config)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    started = time.perf_counter()
    # Python workers (mapInPandas, UDFs) must run this interpreter, whose environment has
    # xgboost and pandas, not whatever `python3` is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(config.master).appName(app_name)
    for key, value in {**server_settings(config), **session_settings(config)}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    SESSION_STARTS.append(time.perf_counter() - started)
    return spark


def _remote_session(url: str, config: SparkConfig) -> SparkSession:
    from pyspark.sql import SparkSession

    session = _REMOTE_SESSIONS.get(url)
    if session is not None and not getattr(session, "is_stopped", False):
        return session
    started = time.perf_counter()
    # Under spark-submit the app gets MASTER from its --master, which the Spark provider always
    # passes; a Connect session runs on the server's master and PySpark refuses the two together.
    os.environ.pop("MASTER", None)
    session = SparkSession.builder.remote(url).getOrCreate()
    for key, value in session_settings(config).items():
        session.conf.set(key, value)
    _REMOTE_SESSIONS[url] = session
    SESSION_STARTS.append(time.perf_counter() - started)
    return session


def union_all(frames: list[DataFrame]) -> DataFrame:
    """Union DataFrames by column name (at least one)."""
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result


def spark_type(arrow_type: pa.DataType) -> DataType:
    """The Spark SQL type that holds a contract column of ``arrow_type``."""
    from pyspark.sql import types as T

    if pa.types.is_timestamp(arrow_type):
        return T.TimestampType()
    mapping = {
        pa.string(): T.StringType(), pa.int64(): T.LongType(), pa.int32(): T.IntegerType(),
        pa.int8(): T.ByteType(), pa.float64(): T.DoubleType(), pa.bool_(): T.BooleanType(),
    }
    return mapping[arrow_type]


def spark_schema(schema: pa.Schema) -> StructType:
    """Spark schema of an Arrow schema (contract tables only use simple types)."""
    from pyspark.sql import types as T

    return T.StructType([T.StructField(f.name, spark_type(f.type), f.nullable) for f in schema])
