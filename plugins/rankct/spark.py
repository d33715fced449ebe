"""The one SparkSession of a process, configured once from the profile.

Feature jobs, the data gate and batch scoring all call ``get_spark``; ``getOrCreate`` hands back
the running session, so a process never pays for a second JVM start.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import TYPE_CHECKING

import pyarrow as pa

from rankct.config import SparkConfig

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType


# Seconds each SparkSession start of this process took (a JVM start, or attaching to the one
# spark-submit started): what the pipeline benchmark counts as Spark start-up overhead.
SESSION_STARTS: list[float] = []


def get_spark(config: SparkConfig | None = None, app_name: str = "rankct") -> SparkSession:
    """Return the process's SparkSession, starting it with ``config`` if none runs yet."""
    import time

    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    started = time.perf_counter()

    config = config or SparkConfig()
    # Python workers (mapInPandas, UDFs) must run this interpreter, whose environment has
    # xgboost and pandas, not whatever `python3` is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Keep Derby/metastore droppings and Spark's scratch space out of the working directory.
    scratch = os.environ.get("RANKCT_SPARK_TMP", os.path.join(tempfile.gettempdir(), "rankct-spark"))
    os.makedirs(scratch, exist_ok=True)
    builder = (
        SparkSession.builder.master(config.master)
        .appName(app_name)
        .config("spark.driver.memory", config.driver_memory)
        .config("spark.sql.shuffle.partitions", str(config.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", str(config.ui_enabled).lower())
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # The JVM <-> Python worker streams (batch scoring's Arrow batches) buffer 1 MB, not
        # 64 KB: the scoring stage's JVM time fell from 2.9 to 2.4 us a row (bench/scoring.py).
        .config("spark.buffer.size", str(1 << 20))
        # Write timestamps as UTC-adjusted micros (not legacy INT96), as the contract reads them.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.local.dir", scratch)
        .config("spark.sql.warehouse.dir", os.path.join(scratch, "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={scratch}")
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    SESSION_STARTS.append(time.perf_counter() - started)
    return spark


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
