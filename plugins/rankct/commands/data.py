"""Raw data: ``rankct simulate``, ``rankct validate`` (data gate 1) and ``rankct ingest``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from rankct.commands.arguments import iso_date


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``simulate``, ``validate`` and ``ingest`` to ``commands``."""
    _add_simulate(commands)
    _add_validate(commands)
    _add_ingest(commands)


def _fault(text: str) -> tuple[str, str]:
    name, sep, day = text.partition(":")
    if not sep or not day:
        raise argparse.ArgumentTypeError(f"{text!r}: write FAULT:DAY, e.g. volume_drop:3")
    return name, day


def _add_simulate(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("simulate", help="simulate a marketplace into the raw-data contract",
                            description="Simulate users, items and ranked traffic; write raw "
                                        "daily partitions and, apart, the hidden true utility.")
    p.add_argument("--out", type=Path, required=True, help="data root to write raw/ and truth/ into")
    p.add_argument("--days", type=int, default=14, help="number of days (default 14)")
    p.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"],
                   help="small ~50k, medium ~1M, large ~10M impressions a day")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same bytes")
    p.add_argument("--start", type=iso_date, default=date(2026, 11, 1),
                   help="first day (YYYY-MM-DD)")
    p.add_argument("--inject", type=_fault, action="append", metavar="FAULT:DAY",
                   help="damage one day (day number or date): null_keys, duplicate_events, "
                        "missing_day, renamed_column, retyped_column, events_before_impression, "
                        "volume_drop, orphan_items; repeatable")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    from rankct.simulate import simulate

    def progress(day: date, rows: int, elapsed: float) -> None:
        print(f"  {day}  {rows:>10,} impressions  {elapsed:6.1f}s", file=sys.stderr)

    summary = simulate(args.out, days=args.days, scale=args.scale, seed=args.seed,
                       start=args.start, faults=dict(args.inject or []), progress=progress)
    print(f"simulated {len(summary.days)} days ({args.scale}, seed {args.seed}) into {args.out}")
    for table, rows in summary.rows.items():
        print(f"  {table:<12} {rows:>12,} rows")
    print(f"  {summary.impressions_per_second:,.0f} impressions/s ({summary.seconds:.1f}s)")
    if summary.faults:
        print("  faults: " + ", ".join(f"{f} on {d}" for d, f in summary.faults.items()))
    return 0


def _add_validate(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("validate", help="run data gate 1 on one day of raw data",
                            description="Check a day's raw partitions against the contract: "
                                        "on Spark over raw/ parquet, or as BigQuery jobs over "
                                        "the profile's dataset (gcp.raw_store: bigquery, as in "
                                        "--profile gcp). Exit 0 when it passes, 3 when a check "
                                        "fails.")
    p.add_argument("--data", type=Path,
                   help="data root holding raw/ (default $RANKCT_HOME/data; not used when the "
                        "raw tables are in BigQuery)")
    p.add_argument("--profile", help="configuration profile (default $RANKCT_PROFILE or local)")
    p.add_argument("--date", type=iso_date, required=True, help="the day to check (YYYY-MM-DD)")
    p.add_argument("--reports", type=Path, help="reports folder (default $RANKCT_HOME/reports)")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    from rankct.config import load_config

    config = load_config(args.profile)
    if config.gcp.raw_store == "bigquery":
        from rankct.quality.bigquery import validate_bigquery

        result = validate_bigquery(args.date, config, reports_dir=args.reports)
    else:
        from rankct.quality.gate import validate_partition

        result = validate_partition(args.data or config.data_root, args.date, config,
                                    reports_dir=args.reports)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(result.summary())
        print(f"  result: {result.result_json}")
        if result.report_html:
            print(f"  report: {result.report_html}")
    return 0 if result.passed else 3


def _add_ingest(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("ingest", help="turn CSV/parquet exports into the contract",
                            description="Map exported files onto the raw-data contract with a "
                                        "mapping file (see README), write daily partitions, "
                                        "then validate them.")
    p.add_argument("--mapping", type=Path, required=True, help="YAML mapping file")
    p.add_argument("--out", type=Path, required=True, help="data root to write raw/ into")
    p.add_argument("--reports", type=Path, help="reports folder (default $RANKCT_HOME/reports)")
    p.add_argument("--no-validate", action="store_true", help="write partitions only")
    p.add_argument("files", type=Path, nargs="+", help="CSV or parquet files")
    p.set_defaults(func=cmd_ingest)


def cmd_ingest(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.ingest import ingest

    config = load_config()
    outcome = ingest(args.mapping, args.files, args.out, config, reports_dir=args.reports,
                     validate=not args.no_validate)
    for table, days in outcome.partitions.items():
        print(f"  {table:<12} {len(days)} partitions, {outcome.rows[table]:,} rows")
    failed = [r for r in outcome.validations if not r.passed]
    for result in outcome.validations:
        print(result.summary())
    return 3 if failed else 0
