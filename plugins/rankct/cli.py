"""The ``rankct`` command line. Expected failures print a message and exit non-zero, no traceback."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

from rankct.errors import RankctError

Command = Callable[[argparse.Namespace], int]


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _fault(text: str) -> tuple[str, str]:
    name, sep, day = text.partition(":")
    if not sep or not day:
        raise argparse.ArgumentTypeError(f"{text!r}: write FAULT:DAY, e.g. volume_drop:3")
    return name, day


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


def cmd_validate(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.quality.gate import validate_partition

    config = load_config()
    result = validate_partition(args.data, args.date, config, reports_dir=args.reports)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(result.summary())
        print(f"  result: {result.result_json}")
        if result.report_html:
            print(f"  report: {result.report_html}")
    return 0 if result.passed else 3


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


def cmd_features(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.spark import get_spark

    config = load_config()
    data_root = args.data_root or config.data_root
    if args.action == "build":
        from rankct.features.build import build_range
        days = build_range(get_spark(config.spark), data_root, args.date, args.to or args.date,
                           config)
        print(f"features built for {days[0]}..{days[-1]} under {data_root / 'features'}")
    elif args.action == "apply":
        from rankct.online.feast_repo import feast_cli
        print(feast_cli(config, "apply"))
    elif args.action == "check-skew":
        from rankct.online.skew import check_skew
        report = check_skew(config, args.date)
        print(report.summary())
        return 0 if report.passed else 3
    elif args.action == "materialize":
        from rankct.online.materialize import materialize_day
        for stats in materialize_day(config, args.date, stock=args.stock):
            print(f"  {stats.view:<24} {stats.rows:>10,} rows  {stats.rows_per_second:>10,.0f} rows/s")
        print(f"materialized features of {args.date} into the {config.profile} online store")
    else:
        from rankct.training_set import training_set
        frame = training_set(get_spark(config.spark), data_root, args.date, args.to or args.date,
                             config)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(args.out, index=False)
        print(f"training set: {len(frame):,} rows, {frame['request_id'].nunique():,} requests "
              f"-> {args.out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.training.run import train_and_test

    config = load_config()
    chosen = {"objective": args.objective, "seed": args.seed}
    training = config.training.model_copy(
        update={key: value for key, value in chosen.items() if value is not None})
    if args.letor:
        from rankct.training.letor import load_letor_files

        if not (args.valid and args.test):
            raise RankctError("--letor needs --valid and --test files",
                              hint="LETOR folds come as train/vali/test files: pass all three")
        train, valid, test = load_letor_files([args.letor, args.valid, args.test])
        features = list(train.columns[2:])
    else:
        import pandas as pd

        from rankct.online.feast_repo import feature_store
        from rankct.online.retrieval import model_columns
        from rankct.training.split import split_by_time

        if not args.frame.is_file():
            raise RankctError(f"training set {args.frame} does not exist",
                              hint="write one with `rankct features training-set --out FILE`")
        split = split_by_time(pd.read_parquet(args.frame), training.split)
        train, valid, test = split.train, split.valid, split.test
        features = model_columns(feature_store(config))
    print("requests: " + ", ".join(f"{name} {part['request_id'].nunique():,}" for name, part in
                                  (("train", train), ("valid", valid), ("test", test))))
    outcome = train_and_test(train, valid, test, features, training, search_trials=args.search)
    print(outcome.summary())
    if args.out:
        print(f"model: {outcome.ranker.save(args.out)}")
    return 0


def cmd_serve_check(args: argparse.Namespace) -> int:
    from rankct.export.serve_check import serve_check

    if args.model is not None:
        if args.bundle is None:
            raise RankctError("--model needs --bundle", hint="name the export folder it came from")
        booster, bundle = args.model, args.bundle
    else:
        from rankct.config import load_config
        from rankct.registry import alias_version, load_booster, open_store

        # Default: the registered version (the champion unless --version says otherwise),
        # scored by the registry's own booster, against the bundle exported for it.
        config = load_config()
        store = open_store(config)
        version = args.version if args.version.isdigit() else alias_version(store, args.version)
        if version is None:
            raise RankctError(f"model {store.model_name} has no version {args.version!r}",
                              hint="`rankct models` lists the versions and aliases")
        booster = load_booster(store, version)
        bundle = args.bundle or config.home / "exports" / store.model_name / str(version)
        print(f"serve-check of {store.model_name} v{version} ({bundle})")
    report = serve_check(bundle, booster, atol=args.atol)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.summary())
    return 0 if report.passed else 3


def cmd_models(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.registry import list_versions, open_store

    store = open_store(load_config())
    rows = list_versions(store)
    if not rows:
        print(f"no versions of {store.model_name} yet")
        return 0
    print(f"{'version':>7}  {'aliases':<28} {'decision':<9} {'data interval':<22} reasons")
    for row in rows:
        print(f"{row.version:>7}  {','.join(row.aliases) or '-':<28} {row.decision or '-':<9} "
              f"{row.data_interval or '-':<22} {row.reasons[:80]}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.registry import open_store, rollback

    store = open_store(load_config())
    print(f"rolled back: champion is now version {rollback(store)} of {store.model_name}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from rankct.orchestrate.demo import run_demo

    return run_demo(days=args.days, scale=args.scale, seed=args.seed, fresh=not args.keep)


def cmd_run(args: argparse.Namespace) -> int:
    from rankct.orchestrate.demo import run_range

    return run_range(args.start, args.end, data_root=args.data_root)


def cmd_status(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.orchestrate.status import format_status, platform_status

    status = platform_status(load_config(), runs=args.runs)
    print(json.dumps(status, indent=2, default=str) if args.json else format_status(status))
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.orchestrate.ui import serve_uis

    return serve_uis(load_config(), check_only=args.check)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rankct", description="Continuous training for learning-to-rank models.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("simulate", help="simulate a marketplace into the raw-data contract",
                       description="Simulate users, items and ranked traffic; write raw daily "
                                   "partitions and, apart, the hidden true utility.")
    p.add_argument("--out", type=Path, required=True, help="data root to write raw/ and truth/ into")
    p.add_argument("--days", type=int, default=14, help="number of days (default 14)")
    p.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"],
                   help="small ~50k, medium ~1M, large ~10M impressions a day")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same bytes")
    p.add_argument("--start", type=_date, default=date(2026, 11, 1), help="first day (YYYY-MM-DD)")
    p.add_argument("--inject", type=_fault, action="append", metavar="FAULT:DAY",
                   help="damage one day (day number or date): null_keys, duplicate_events, "
                        "missing_day, renamed_column, retyped_column, events_before_impression, "
                        "volume_drop, orphan_items; repeatable")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("validate", help="run data gate 1 on one day of raw data",
                       description="Check a day's raw partitions against the contract. Exit 0 "
                                   "when it passes, 3 when a check fails.")
    p.add_argument("--data", type=Path, required=True, help="data root holding raw/")
    p.add_argument("--date", type=_date, required=True, help="the day to check (YYYY-MM-DD)")
    p.add_argument("--reports", type=Path, help="reports folder (default $RANKCT_HOME/reports)")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("ingest", help="turn CSV/parquet exports into the contract",
                       description="Map exported files onto the raw-data contract with a mapping "
                                   "file (see README), write daily partitions, then validate them.")
    p.add_argument("--mapping", type=Path, required=True, help="YAML mapping file")
    p.add_argument("--out", type=Path, required=True, help="data root to write raw/ into")
    p.add_argument("--reports", type=Path, help="reports folder (default $RANKCT_HOME/reports)")
    p.add_argument("--no-validate", action="store_true", help="write partitions only")
    p.add_argument("files", type=Path, nargs="+", help="CSV or parquet files")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("features", help="build, register, materialize and join features",
                       description="Spark feature tables, the Feast registry, the online store "
                                   "and point-in-time training sets.")
    fsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (("build", "build the feature tables of a day (or --to: a range)"),
                         ("apply", "register feature_repo/ definitions (feast apply)"),
                         ("materialize", "load a day's features into the online store"),
                         ("check-skew", "compare online values with the offline tables"),
                         ("training-set", "labelled impressions joined point-in-time")):
        a = fsub.add_parser(action, help=text, description=text)
        if action != "apply":
            a.add_argument("--date", type=_date, required=True, help="day (YYYY-MM-DD)")
        if action in ("build", "training-set"):
            a.add_argument("--to", type=_date, help="last day of the range")
            a.add_argument("--data-root", type=Path, help="default $RANKCT_HOME/data")
        if action == "training-set":
            a.add_argument("--out", type=Path, required=True, help="parquet file to write")
        if action == "materialize":
            a.add_argument("--stock", action="store_true",
                           help="use Feast's own materialize (slower; any online store)")
        a.set_defaults(func=cmd_features, data_root=None)
    p = sub.add_parser("train", help="train an XGBoost ranker and print its test metrics",
                       description="Fit the ranker (early stopping on validation NDCG@10) on "
                                   "LETOR files or a training set, then measure the test split.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--letor", type=Path, metavar="TRAIN",
                        help="LETOR/SVMlight training file (with --valid and --test)")
    source.add_argument("--frame", type=Path, metavar="PARQUET",
                        help="training set from `rankct features training-set`, split by time")
    p.add_argument("--valid", type=Path, help="LETOR validation file")
    p.add_argument("--test", type=Path, help="LETOR test file")
    p.add_argument("--objective", choices=["rank:ndcg", "rank:pairwise", "lambdarank_unbiased"],
                   help="default training.objective (rank:ndcg)")
    p.add_argument("--search", type=int, metavar="N",
                   help="random search of N trials before the final fit")
    p.add_argument("--seed", type=int, help="default training.seed")
    p.add_argument("--out", type=Path, metavar="MODEL.json", help="save the booster (XGBoost JSON)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("serve-check", help="score an export bundle as Triton and Vespa would",
                       description="Load the bundle's Triton model and Vespa package as the "
                                   "servers do, send its golden requests and compare with the "
                                   "booster. Exit 0 when every score and order matches, 3 if not.")
    p.add_argument("--version", default="champion",
                   help="registered version or alias to check (default: champion)")
    p.add_argument("--bundle", type=Path,
                   help="export folder (default $RANKCT_HOME/exports/<model>/<version>)")
    p.add_argument("--model", type=Path, metavar="BOOSTER_FILE",
                   help="check against this XGBoost model file instead of the registry")
    p.add_argument("--atol", type=float, default=1e-4, help="largest score difference allowed")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_serve_check)
    p = sub.add_parser("models", help="list registered versions, aliases and gate decisions",
                       description="Versions of the registered model, newest first, with their "
                                   "aliases (champion, challenger, previous_champion) and gate "
                                   "decisions.")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("rollback", help="restore the previous champion",
                       description="Move the alias champion back to the version it replaced; "
                                   "exit 2 when there is none.")
    p.set_defaults(func=cmd_rollback)
    p = sub.add_parser("demo", help="the main job of `make run`",
                       description="Simulate a small marketplace with one damaged day under "
                                   "$RANKCT_HOME, run the training DAG for every day through "
                                   "`airflow dags test`, then batch scoring and monitoring, "
                                   "and print the summary. Exit 1 if a day ended unexpectedly.")
    p.add_argument("--days", type=int, default=14, help="days to simulate (default 14)")
    p.add_argument("--scale", default="small", choices=["tiny", "small", "medium"])
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true",
                   help="keep the state folder (default: start from an empty one)")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("run", help="the training loop over your own data, through Airflow",
                       description="Run the training DAG (`airflow dags test`) for every day of "
                                   "a range, then batch scoring and monitoring for the newest "
                                   "day, and print the summary. The data root holds raw/ in "
                                   "the contract (README).")
    p.add_argument("--data-root", type=Path,
                   help="folder holding raw/<table>/dt=... (default $RANKCT_HOME/data)")
    p.add_argument("--from", dest="start", type=_date, required=True, help="first day")
    p.add_argument("--to", dest="end", type=_date, required=True, help="last day")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("status", help="champion, challenger, recent runs, artifacts, alerts",
                       description="What serves, what was tried last, how the recent training "
                                   "runs ended, the last scoring and monitoring, alerts.")
    p.add_argument("--json", action="store_true", help="print it as JSON")
    p.add_argument("--runs", type=int, default=10, help="training runs to list (default 10)")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("ui", help="start the Airflow, MLflow and Evidently UIs (make ui)",
                       description="Serve the Airflow UI, the MLflow UI and the Evidently UI on "
                                   "localhost over $RANKCT_HOME until interrupted.")
    p.add_argument("--check", action="store_true",
                   help="start them, wait until each answers, print the URLs and stop")
    p.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except RankctError as exc:
        print(f"rankct {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
