"""The platform as a whole, through Airflow: ``rankct demo``, ``rankct run``, ``rankct status``
and ``rankct ui``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rankct.commands.arguments import iso_date


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``demo``, ``run``, ``status`` and ``ui`` to ``commands``."""
    _add_demo(commands)
    _add_run(commands)
    _add_status(commands)
    _add_ui(commands)


def _add_demo(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("demo", help="the main job of `make run`",
                            description="Simulate a small marketplace with one damaged day under "
                                        "$RANKCT_HOME, run the training DAG for every day "
                                        "through `airflow dags test`, then batch scoring and "
                                        "monitoring, and print the summary. Exit 1 if a day "
                                        "ended unexpectedly.")
    p.add_argument("--days", type=int, default=14, help="days to simulate (default 14)")
    p.add_argument("--scale", default="small", choices=["tiny", "small", "medium"])
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true",
                   help="keep the state folder (default: start from an empty one)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from rankct.orchestrate.demo import run_demo

    return run_demo(days=args.days, scale=args.scale, seed=args.seed, fresh=not args.keep)


def _add_run(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("run", help="the training loop over your own data, through Airflow",
                            description="Run the training DAG (`airflow dags test`) for every "
                                        "day of a range, then batch scoring and monitoring for "
                                        "the newest day, and print the summary. The data root "
                                        "holds raw/ in the contract (README). With --profile "
                                        "prod, the stack's scheduler runs a backfill of the "
                                        "range and the champion Asset starts scoring "
                                        "(`rankct stack up` first).")
    p.add_argument("--data-root", type=Path,
                   help="folder holding raw/<table>/dt=... (default $RANKCT_HOME/data)")
    p.add_argument("--from", dest="start", type=iso_date, required=True, help="first day")
    p.add_argument("--to", dest="end", type=iso_date, required=True, help="last day")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from rankct.orchestrate.demo import run_range

    return run_range(args.start, args.end, data_root=args.data_root)


def _add_status(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("status", help="champion, challenger, recent runs, artifacts, alerts",
                            description="What serves, what was tried last, how the recent "
                                        "training runs ended, the last scoring and monitoring, "
                                        "alerts.")
    p.add_argument("--json", action="store_true", help="print it as JSON")
    p.add_argument("--runs", type=int, default=10, help="training runs to list (default 10)")
    p.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.orchestrate.status import format_status, platform_status

    config = load_config()
    if config.profile == "prod":  # the stack's MLflow server, with its login
        from rankct.orchestrate.scheduler_run import attached_config

        config, _ = attached_config(config)
    status = platform_status(config, runs=args.runs)
    print(json.dumps(status, indent=2, default=str) if args.json else format_status(status))
    return 0


def _add_ui(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("ui", help="start the Airflow, MLflow and Evidently UIs (make ui)",
                            description="Serve the Airflow UI, the MLflow UI and the Evidently "
                                        "UI over $RANKCT_HOME until interrupted, on 127.0.0.1 "
                                        "unless --host says otherwise. Airflow asks for a "
                                        "login; its password is printed the first time.")
    p.add_argument("--check", action="store_true",
                   help="start them, wait until each answers, print the URLs and stop")
    p.add_argument("--host", default="127.0.0.1",
                   help="address the servers listen on (default 127.0.0.1: this machine only)")
    p.set_defaults(func=cmd_ui)


def cmd_ui(args: argparse.Namespace) -> int:
    from rankct.config import load_config
    from rankct.orchestrate.ui import serve_uis

    return serve_uis(load_config(), check_only=args.check, host=args.host)
