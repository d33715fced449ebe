"""The ``rankct`` command line. Expected failures print a message and exit non-zero, no traceback.

The commands live in :mod:`rankct.commands`, one module per group, each command's parser beside
its handler; this module only assembles them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from rankct.commands import data, deploy, features, gcp, models, platform, stack, training
from rankct.errors import RankctError

# In the order `rankct --help` lists their commands. A new group: a module of rankct.commands
# with a register(commands), added here.
COMMAND_GROUPS = (data, features, training, models, deploy, platform, stack, gcp)
PROFILE_HELP = "configuration profile (config/PROFILE.yaml), overriding $RANKCT_PROFILE"


def _add_profile(parser: argparse.ArgumentParser) -> None:
    """``--profile`` on ``parser`` and on every command under it, so that it may follow the
    command (``rankct stack up --profile prod``) as well as precede it. A command that declares
    its own (``bq load`` defaults to gcp) keeps it."""
    if "--profile" not in parser._option_string_actions:
        parser.add_argument("--profile", default=argparse.SUPPRESS, help=PROFILE_HELP)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_profile(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rankct", description="Continuous training for learning-to-rank models.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    _add_profile(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "profile", None):
        # Through the environment: load_config reads it, and so do the Airflow tasks, Spark
        # jobs and Feast processes rankct starts.
        os.environ["RANKCT_PROFILE"] = args.profile
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
