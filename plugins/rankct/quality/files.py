"""File-level checks that need no Spark: the partition is there, complete, readable and shaped
like the contract. Reading parquet footers only, they cost milliseconds even on large days."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rankct.contract import SUCCESS_MARKER, partition_path
from rankct.quality.layout import check_schema, optional_missing
from rankct.quality.results import CheckResult, ValidationResult


@dataclass
class PartitionFiles:
    """What the file checks learned about one table's partition."""

    table: str
    path: Path
    files: list[Path] = field(default_factory=list)
    schema: pa.Schema | None = None
    num_rows: int = 0
    usable: bool = False  # readable and schema-conformant: content checks may run on it


def parquet_files(path: Path) -> list[Path]:
    """Data files of a partition folder, ignoring markers and hidden files."""
    return sorted(p for p in path.iterdir()
                  if p.is_file() and not p.name.startswith(("_", ".")) and p.suffix != ".crc")


def compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    """Whether a file column of type ``actual`` satisfies the contract's ``expected`` type."""
    if actual == expected:
        return True
    if pa.types.is_timestamp(expected):
        # Any unit is fine; the contract is UTC, so a timestamp tagged with another zone is not.
        return pa.types.is_timestamp(actual) and actual.tz in (None, "UTC", "+00:00", "Etc/UTC")
    if pa.types.is_integer(expected):
        return pa.types.is_integer(actual) and actual.bit_width <= expected.bit_width
    if pa.types.is_floating(expected):
        return pa.types.is_floating(actual)
    if pa.types.is_string(expected):
        return pa.types.is_string(actual) or pa.types.is_large_string(actual)
    return False


def read_footer(path: Path) -> pq.FileMetaData:
    """The parquet footer of ``path``; raises ``OSError``/``ArrowInvalid`` on a corrupt file."""
    return pq.read_metadata(path)


def check_files(result: ValidationResult, data_root: Path, table: str, day: date,
                optional: bool = False) -> PartitionFiles:
    """Existence, completeness, readability and schema of one table's partition."""
    path = partition_path(data_root, table, day)
    part = PartitionFiles(table, path)
    where = f"dt={day.isoformat()}"
    if not path.is_dir():
        if optional and not path.parent.exists():
            optional_missing(result, table, where)
            return part
        result.add(CheckResult(table, "partition_exists", where, False, observed="missing",
                               detail=f"no folder {path}"))
        return part
    result.add(CheckResult(table, "partition_exists", where, True))
    complete = (path / SUCCESS_MARKER).exists()
    result.add(CheckResult(table, "partition_complete", where, complete,
                           observed=None if complete else "no _SUCCESS marker"))
    part.files = parquet_files(path)
    if not part.files:
        result.add(CheckResult(table, "readable", where, False, observed="no data files",
                               detail=f"{path} holds no parquet file"))
        return part
    schemas = []
    for file in part.files:
        try:
            meta = read_footer(file)
        except (OSError, pa.ArrowException) as exc:
            result.add(CheckResult(table, "readable", where, False, observed=file.name,
                                   detail=f"{file} is not a readable parquet file ({exc})"))
            return part
        schemas.append(meta.schema.to_arrow_schema())
        part.num_rows += meta.num_rows
    if any(not s.equals(schemas[0]) for s in schemas[1:]):
        result.add(CheckResult(table, "readable", where, False, observed="mixed schemas",
                               detail="the partition's files disagree on their columns"))
        return part
    result.add(CheckResult(table, "readable", where, complete))
    part.schema = schemas[0]
    part.usable = complete and check_schema(result, table, where,
                                            {f.name: f.type for f in part.schema}, compatible)
    return part


def partition_row_count(data_root: Path, table: str, day: date) -> int | None:
    """Rows of a complete partition from its footers, or None when it is missing or unreadable."""
    path = partition_path(data_root, table, day)
    if not (path / SUCCESS_MARKER).exists():
        return None
    try:
        return sum(read_footer(f).num_rows for f in parquet_files(path))
    except (OSError, pa.ArrowException):
        return None
