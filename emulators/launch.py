"""Start a GCP emulator offline, in the emulators' own environment (``.venv-gcp``).

Usage: ``.venv-gcp/bin/python emulators/launch.py bigquery start --rest-port N ...`` or
``... launch.py storage -d DIR start --host 127.0.0.1 --port P``. rankct runs this as a
subprocess (``rankct gcp emulators up``, the tests' fixture) and never imports it: bqemulator pins
protobuf 6.x, the Airflow environment has 7.x.

Three things bqemulator needs on a machine without internet access, done before its ``main()``:

1. DuckDB's ``spatial`` extension is downloaded at start unless it is already in DuckDB's
   extension folder; ``duckdb-extension-spatial`` ships the file, so it is copied there.
2. The format extensions (avro) would be a download too: ``BQEMU_ENABLE_FORMAT_EXTENSIONS=false``.
3. google-cloud-bigquery sends multipart uploads with a media part typed ``*/*``, which the
   emulator's whitelist rejects with a 400; the launcher adds ``*/*`` to it.
"""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources
from pathlib import Path


def install_spatial_extension() -> Path:
    """Copy the packaged spatial extension where DuckDB looks for it; returns its path."""
    import duckdb

    version = duckdb.__version__
    platform = duckdb.sql("PRAGMA platform").fetchone()[0]
    target = Path.home() / ".duckdb" / "extensions" / f"v{version}" / platform
    dest = target / "spatial.duckdb_extension"
    source = resources.files("duckdb_extension_spatial") / "extensions" / f"v{version}" / \
        "spatial.duckdb_extension"
    if not dest.exists():
        target.mkdir(parents=True, exist_ok=True)
        with resources.as_file(source) as path:
            # Copied under a temporary name and renamed: two emulators starting at once
            # never see half a file.
            partial = dest.with_suffix(f".{os.getpid()}.part")
            shutil.copyfile(path, partial)
            partial.replace(dest)
    return dest


def allow_generic_media_type() -> None:
    """Accept the ``*/*`` media part google-cloud-bigquery's multipart uploads carry."""
    from bqemulator.api.routes import upload

    if "*/*" not in upload._PERMITTED_MEDIA_CONTENT_TYPES:
        upload._PERMITTED_MEDIA_CONTENT_TYPES = (*upload._PERMITTED_MEDIA_CONTENT_TYPES, "*/*")


def run_bigquery(argv: list[str]) -> int:
    """bqemulator's CLI with the offline fixes applied."""
    os.environ["BQEMU_ENABLE_FORMAT_EXTENSIONS"] = "false"
    install_spatial_extension()
    allow_generic_media_type()
    from bqemulator.cli import main

    return main.main(args=argv, prog_name="bqemulator", standalone_mode=True) or 0


def run_storage(argv: list[str]) -> int:
    """gcp-storage-emulator's CLI (it needs no fix; launched here so both start the same way)."""
    from gcp_storage_emulator.__main__ import main

    return main(argv) or 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("bigquery", "storage"):
        print("usage: launch.py bigquery|storage ARGS...", file=sys.stderr)
        return 2
    runner = run_bigquery if argv[0] == "bigquery" else run_storage
    return runner(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
