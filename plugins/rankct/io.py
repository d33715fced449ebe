"""Atomic publication of files and partitions: write beside the target, then rename into place.

A killed writer leaves a temporary folder that readers never look at; a re-run replaces the
partition whole, so re-runs are idempotent.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rankct.contract import SUCCESS_MARKER


@contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``target`` in one rename.

    The old folder, if any, is moved aside first and deleted after the swap, so readers see either
    the old or the new content, never a mix.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_partition(table: pa.Table, target: Path | str, *, file_name: str = "part-0.parquet") -> Path:
    """Write one parquet file and a success marker as a complete, atomically published partition."""
    with atomic_dir(target) as tmp:
        # No statistics timestamps or writer-dependent metadata vary between runs: same input,
        # same bytes.
        pq.write_table(table, tmp / file_name, compression="zstd", write_statistics=True)
        (tmp / SUCCESS_MARKER).touch()
    return Path(target)


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Write a text file through a temporary sibling and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex[:8]}"
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_json_atomic(path: Path | str, payload: Any) -> Path:
    """Write ``payload`` as indented JSON, atomically."""
    return write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def publish_dataframe(df, target: Path | str, sort_by: list[str] | None = None) -> Path:
    """Write a Spark DataFrame as one complete partition folder, replacing ``target`` atomically.

    One sorted file per partition: feature partitions are small, and a fixed order makes a re-run
    write the same rows in the same order.
    """
    target = Path(target)
    with atomic_dir(target) as tmp:
        out = df.coalesce(1)
        if sort_by:
            out = out.sortWithinPartitions(*sort_by)
        out.write.mode("overwrite").parquet(str(tmp / "data"))
        # Spark names files with a random id; fixed names keep re-runs identical.
        files = sorted(f for f in (tmp / "data").iterdir() if f.suffix == ".parquet")
        for i, file in enumerate(files):
            os.replace(file, tmp / f"part-{i}.parquet")
        shutil.rmtree(tmp / "data")
        (tmp / SUCCESS_MARKER).touch()
    return target
