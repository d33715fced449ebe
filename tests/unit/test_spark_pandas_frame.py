"""The training set's Arrow-to-pandas conversion (rankct.online.historical.spark_pandas_frame)
gives the frame PySpark's own conversion gives, column for column and dtype for dtype."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pytest
from pyspark.sql import types as T
from pyspark.sql.pandas.conversion import _convert_arrow_table_to_pandas
from pyspark.sql.pandas.types import from_arrow_type
from rankct.online.historical import spark_pandas_frame

ROWS = 7


def _table(rows: int) -> pa.Table:
    def cycle(values: list) -> list:
        return [values[i % len(values)] for i in range(rows)]

    return pa.table({
        "request_id": pa.array(cycle(["r1", "r2", None]), pa.string()),
        "item_id": pa.array(cycle([3, None, 5]), pa.int64()),
        "position": pa.array(cycle([1, 2, 3, 4]), pa.int32()),
        "event_timestamp": pa.array(cycle([datetime(2026, 11, 3, 10, 5, 1, 7, tzinfo=UTC), None]),
                                    pa.timestamp("us", tz="UTC")),
        "served_on": pa.array(cycle([date(2026, 11, 3), None]), pa.date32()),
        "ctr_7d": pa.array(cycle([0.25, None, float("nan"), -1.5]), pa.float64()),
        "on_sale": pa.array(cycle([True, None, False]), pa.bool_()),
        "clicks_7d": pa.array(cycle([None, 4.0]), pa.float64()),
        "rating": pa.array(cycle([4.5, None]), pa.float32()),
    })


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York"])
@pytest.mark.parametrize("rows", [ROWS, 0])
def test_the_frame_is_pysparks_frame(rows: int, timezone: str) -> None:
    table = _table(rows)
    schema = T.StructType([T.StructField(f.name, from_arrow_type(f.type)) for f in table.schema])
    expected = _convert_arrow_table_to_pandas(table, schema, timezone=timezone,
                                              struct_handling_mode="legacy", date_as_object=True)
    frame = spark_pandas_frame(table, schema, timezone)
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert list(frame.columns) == table.column_names
    if rows:  # the corrections PySpark makes are there: ints with nulls as floats, local time
        assert frame["item_id"].dtype == "float64"
        assert str(frame["event_timestamp"].dtype) == "datetime64[ns]"
        assert isinstance(frame["served_on"].iloc[0], date)
