"""Google Cloud: ``rankct gcp emulators up|down|status`` and ``rankct bq load``."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rankct.commands.arguments import iso_date

if TYPE_CHECKING:
    from rankct.gcp.emulators import EmulatorState


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``gcp`` and ``bq`` to ``commands``."""
    _add_gcp(commands)
    _add_bq(commands)


def _add_gcp(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("gcp", help="local BigQuery and Cloud Storage emulators",
                            description="Start, stop or show the BigQuery and Cloud Storage "
                                        "emulators (from .venv-gcp: `make setup-gcp`) on free "
                                        "ports of 127.0.0.1, state under "
                                        "$RANKCT_HOME/gcp-emulators.")
    sub = p.add_subparsers(dest="gcp_command", required=True, metavar="COMMAND")
    emulators = sub.add_parser("emulators", help="up | down | status",
                               description="`up` starts both emulators and prints the settings "
                                           "that point the gcp profile at them; `down` stops "
                                           "the recorded processes; `status` shows them.")
    emulators.add_argument("action", choices=["up", "down", "status"])
    emulators.add_argument("--json", action="store_true", help="print the state as JSON")
    emulators.set_defaults(func=cmd_emulators)
    stage = sub.add_parser("stage-code", help="upload jobs/, the package and the lock for Dataproc",
                           description="Upload jobs/*.py, the rankct package (a zip) and "
                                       "requirements.lock to gcp.code_uri (default "
                                       "gs://<gcp.bucket>/rankct-code), where the Dataproc jobs "
                                       "of gcp.spark_runner=dataproc find them. Run it when "
                                       "rankct is upgraded.")
    stage.set_defaults(func=cmd_stage_code)


def _emulator_folder() -> tuple[Path, str]:
    from rankct.config import load_config

    config = load_config("gcp")
    return config.home / "gcp-emulators", config.gcp.project or "rankct-dev"


def _create_bucket(state: EmulatorState) -> None:
    """The gcp profile's bucket on the fresh storage emulator (on Google it is provisioned)."""
    from rankct.config import load_config
    from rankct.gcp.clients import storage_client

    gcp = load_config("gcp", environ={**os.environ, **state.environment()}).gcp
    if gcp.bucket:
        client = storage_client(gcp)
        if not client.bucket(gcp.bucket).exists():
            client.create_bucket(gcp.bucket)


def cmd_stage_code(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.gcp.dataproc import stage_code

    for name, uri in stage_code(load_config()).items():
        print(f"{name:<22} {uri}")
    return 0


def cmd_emulators(args: argparse.Namespace) -> int:
    from rankct.gcp import emulators

    folder, project = _emulator_folder()
    if args.action == "up":
        state = emulators.start(folder, project)
        _create_bucket(state)
        if args.json:
            print(json.dumps(state.environment(), indent=2))
            return 0
        for emulator in state.emulators:
            print(f"{emulator.name:<9} {emulator.url}  pid {emulator.pid}  log {emulator.log}",
                  file=sys.stderr)
        # On stdout only the settings, so `eval "$(rankct gcp emulators up)"` applies them.
        print("export RANKCT_PROFILE=gcp " + " ".join(
            f"{k}={shlex.quote(v)}" for k, v in state.environment().items()))
        return 0
    if args.action == "down":
        stopped = emulators.stop(folder)
        print(f"stopped: {', '.join(stopped)}" if stopped else f"no emulator running ({folder})")
        return 0
    rows = emulators.status(folder)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no emulator recorded under {folder}")
    for row in rows if not args.json else []:
        state = "healthy" if row["healthy"] else ("running" if row["alive"] else "stopped")
        print(f"{row['name']:<9} {row['url']}  pid {row['pid']}  {state}")
    return 0 if rows and all(r["healthy"] for r in rows) else 1


def _add_bq(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("bq", help="the raw contract tables in BigQuery",
                            description="BigQuery side of the gcp profile (project, dataset, "
                                        "endpoint from the gcp: settings).")
    sub = p.add_subparsers(dest="bq_command", required=True, metavar="COMMAND")
    load = sub.add_parser("load", help="load contract partitions into the dataset",
                          description="Load the complete raw/<table>/dt=D partitions of a data "
                                      "root into one day-partitioned table per contract table; "
                                      "a day loaded again replaces the day.")
    load.add_argument("--data-root", type=Path, required=True, help="folder holding raw/")
    load.add_argument("--from", dest="start", type=iso_date, help="first day (default: all)")
    load.add_argument("--to", dest="end", type=iso_date, help="last day (default: all)")
    load.add_argument("--profile", default="gcp", help="configuration profile (default gcp)")
    load.set_defaults(func=cmd_bq_load)
    export = sub.add_parser("export", help="export a validated day to the offline store",
                            description="Run data gate 1 on the day in BigQuery and, when it "
                                        "passes, write every contract table's day to "
                                        "raw/<table>/dt=D parquet (atomically, replacing the "
                                        "day), where the Spark feature jobs read it. Exit 3 "
                                        "when the gate fails (nothing is written).")
    export.add_argument("--date", type=iso_date, required=True, help="the day (YYYY-MM-DD)")
    export.add_argument("--data-root", type=Path, help="default $RANKCT_HOME/data")
    export.add_argument("--profile", default="gcp", help="configuration profile (default gcp)")
    export.set_defaults(func=cmd_bq_export)


def cmd_bq_load(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.gcp.raw_tables import load_range

    config = load_config(args.profile)
    loaded = load_range(args.data_root, config, args.start, args.end)
    tables: dict[str, list[int]] = {}
    for part in loaded:
        tables.setdefault(part.table, []).append(part.rows)
    target = f"{config.gcp.project}.{config.gcp.dataset}"
    print(f"loaded {len(loaded)} partitions into {target}")
    for table, rows in tables.items():
        print(f"  {table:<12} {len(rows)} days, {sum(rows):,} rows")
    return 0


def cmd_bq_export(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.gcp.export import export_day

    config = load_config(args.profile)
    exported = export_day(args.date, config, args.data_root)
    for part in exported:
        print(f"  {part.table:<12} {part.rows:>10,} rows  {part.path}")
    return 0
