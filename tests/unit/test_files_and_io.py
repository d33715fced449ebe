"""File-level gate checks and atomic publication, without Spark."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest
from rankct.contract import IMPRESSIONS, partition_path
from rankct.io import atomic_dir, write_partition
from rankct.quality.files import check_files
from rankct.quality.results import ValidationResult

DAY = date(2026, 11, 1)


def _rules(result: ValidationResult) -> set[tuple[str, str | None]]:
    return {(c.rule, c.column) for c in result.failures}


def test_atomic_dir_leaves_the_old_content_when_the_writer_dies(tmp_path) -> None:
    target = tmp_path / "part"
    write_partition(pa.table({"x": [1]}), target)
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half-written").write_text("...")
        raise RuntimeError("killed")
    assert sorted(p.name for p in target.iterdir()) == ["_SUCCESS", "part-0.parquet"]
    assert [p.name for p in tmp_path.iterdir()] == ["part"]  # no temporary left behind


def test_widened_types_and_naive_timestamps_are_accepted(tmp_path) -> None:
    table = IMPRESSIONS.schema.empty_table()
    table = table.cast(table.schema.set(table.schema.get_field_index("user_id"),
                                        pa.field("user_id", pa.int32())))
    write_partition(table, partition_path(tmp_path, "impressions", DAY))
    result = ValidationResult("x", str(tmp_path))
    part = check_files(result, tmp_path, "impressions", DAY)
    assert part.usable, result.summary()


def test_timestamp_in_another_zone_is_a_type_error(tmp_path) -> None:
    schema = IMPRESSIONS.schema
    schema = schema.set(schema.get_field_index("served_at"),
                        pa.field("served_at", pa.timestamp("us", tz="Europe/Paris")))
    write_partition(schema.empty_table(), partition_path(tmp_path, "impressions", DAY))
    result = ValidationResult("x", str(tmp_path))
    assert not check_files(result, tmp_path, "impressions", DAY).usable
    assert ("schema_type", "served_at") in _rules(result)


def test_partition_folder_without_files(tmp_path) -> None:
    path = partition_path(tmp_path, "events", DAY)
    path.mkdir(parents=True)
    (path / "_SUCCESS").touch()
    result = ValidationResult("x", str(tmp_path))
    check_files(result, tmp_path, "events", DAY)
    assert ("readable", None) in _rules(result)
    assert "holds no parquet file" in result.summary()


def test_optional_table_may_be_absent(tmp_path) -> None:
    result = ValidationResult("x", str(tmp_path))
    check_files(result, tmp_path, "sellers", DAY, optional=True)
    assert result.passed and result.checks[0].skipped
