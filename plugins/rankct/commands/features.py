"""``rankct features build|apply|materialize|check-skew|training-set``: the Spark feature
tables, the Feast registry, the online store and point-in-time training sets."""

from __future__ import annotations

import argparse
from pathlib import Path

from rankct.commands.arguments import iso_date


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``features`` and its actions to ``commands``."""
    p = commands.add_parser("features", help="build, register, materialize and join features",
                            description="Spark feature tables, the Feast registry, the online "
                                        "store and point-in-time training sets.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for add in (_add_build, _add_apply, _add_materialize, _add_check_skew, _add_training_set):
        add(actions)


def _action(actions: argparse._SubParsersAction, name: str, text: str,
            dated: bool = True) -> argparse.ArgumentParser:
    """The parser of one action, with ``--date`` unless it concerns no day."""
    p = actions.add_parser(name, help=text, description=text)
    if dated:
        p.add_argument("--date", type=iso_date, required=True, help="day (YYYY-MM-DD)")
    return p


def _add_range(p: argparse.ArgumentParser) -> None:
    p.add_argument("--to", type=iso_date, help="last day of the range")
    p.add_argument("--data-root", type=Path, help="default $RANKCT_HOME/data")


def _add_build(actions: argparse._SubParsersAction) -> None:
    p = _action(actions, "build", "build the feature tables of a day (or --to: a range)")
    _add_range(p)
    p.set_defaults(func=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.features.build import build_range
    from rankct.spark import get_spark

    config = load_config()
    data_root = args.data_root or config.data_root
    days = build_range(get_spark(config.spark), data_root, args.date, args.to or args.date,
                       config)
    print(f"features built for {days[0]}..{days[-1]} under {data_root / 'features'}")
    return 0


def _add_apply(actions: argparse._SubParsersAction) -> None:
    p = _action(actions, "apply", "register feature_repo/ definitions (feast apply)", dated=False)
    p.set_defaults(func=cmd_apply)


def cmd_apply(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.online.feast_repo import feast_cli

    print(feast_cli(load_config(), "apply"))
    return 0


def _add_materialize(actions: argparse._SubParsersAction) -> None:
    p = _action(actions, "materialize", "load a day's features into the online store")
    p.add_argument("--stock", action="store_true",
                   help="use Feast's own materialize (slower; any online store)")
    p.set_defaults(func=cmd_materialize)


def cmd_materialize(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.online.materialize import materialize_day

    config = load_config()
    for stats in materialize_day(config, args.date, stock=args.stock):
        print(f"  {stats.view:<24} {stats.rows:>10,} rows  {stats.rows_per_second:>10,.0f} rows/s")
    print(f"materialized features of {args.date} into the {config.profile} online store")
    return 0


def _add_check_skew(actions: argparse._SubParsersAction) -> None:
    p = _action(actions, "check-skew", "compare online values with the offline tables")
    p.set_defaults(func=cmd_check_skew)


def cmd_check_skew(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.online.skew import check_skew

    report = check_skew(load_config(), args.date)
    print(report.summary())
    return 0 if report.passed else 3


def _add_training_set(actions: argparse._SubParsersAction) -> None:
    p = _action(actions, "training-set", "labelled impressions joined point-in-time")
    _add_range(p)
    p.add_argument("--out", type=Path, required=True, help="parquet file to write")
    p.set_defaults(func=cmd_training_set)


def cmd_training_set(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.spark import get_spark
    from rankct.training_set import training_set

    config = load_config()
    data_root = args.data_root or config.data_root
    frame = training_set(get_spark(config.spark), data_root, args.date, args.to or args.date,
                         config)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(args.out, index=False)
    print(f"training set: {len(frame):,} rows, {frame['request_id'].nunique():,} requests "
          f"-> {args.out}")
    return 0
