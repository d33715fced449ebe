"""The ``rankct`` command line. Expected failures print a message and exit non-zero, no traceback.

The commands live in :mod:`rankct.commands`, one module per group, each command's parser beside
its handler; this module only assembles them.
"""

from __future__ import annotations

import argparse
import logging
import sys

from rankct.commands import data, deploy, features, models, platform, training
from rankct.errors import RankctError

# In the order `rankct --help` lists their commands. A new group: a module of rankct.commands
# with a register(commands), added here.
COMMAND_GROUPS = (data, features, training, models, deploy, platform)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rankct", description="Continuous training for learning-to-rank models.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
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
