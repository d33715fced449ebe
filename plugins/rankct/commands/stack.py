"""``rankct stack up|down|status|env|run``: the production profile's services on this machine
(Spark standalone master and workers, Airflow on PostgreSQL, the MLflow tracking server
behind basic auth, the Evidently UI; Feast on this machine's Redis), without Docker."""

from __future__ import annotations

import argparse
import json


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``stack`` and its actions to ``commands``."""
    p = commands.add_parser("stack", help="the production topology on this machine",
                            description="Start, inspect and stop the production profile's "
                                        "services as processes of this machine, on 127.0.0.1, "
                                        "with state under $RANKCT_HOME/stack "
                                        "($RANKCT_STACK_HOME). README, 'Production profile "
                                        "on one machine'.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="start the stack (a healthy one is left alone)",
                            description="Create the PostgreSQL databases if missing, migrate "
                                        "Airflow's, start every service and wait until each "
                                        "is healthy. Exit 4 naming the service that was not, "
                                        "and its log.")
    up.add_argument("--executor", choices=["local", "celery"],
                    help="Airflow's executor (default $RANKCT_STACK_EXECUTOR or local)")
    up.add_argument("--broker", choices=["redis", "rabbitmq"],
                    help="Celery's broker (default $RANKCT_STACK_BROKER or redis)")
    up.add_argument("--free-ports", action="store_true",
                    help="listen on ports nobody uses now instead of the fixed defaults")
    up.add_argument("--timeout", type=float, default=300.0,
                    help="seconds to wait for every service to be healthy (default 300)")
    up.set_defaults(func=cmd_up)
    down = actions.add_parser("down", help="stop exactly what `up` started",
                              description="SIGTERM to each recorded process group, SIGKILL "
                                          "after --timeout seconds; nothing else is touched.")
    down.add_argument("--timeout", type=float, default=20.0)
    down.set_defaults(func=cmd_down)
    status = actions.add_parser("status", help="each service's pid, URL, health and log",
                                description="Exit 0 when every recorded service is healthy, "
                                            "3 otherwise (or when none is recorded).")
    status.add_argument("--json", action="store_true", help="print it as JSON")
    status.set_defaults(func=cmd_status)
    env = actions.add_parser("env", help="export lines a client of the stack needs",
                             description="Print `export` lines (eval \"$(rankct stack env)\") "
                                         "that make rankct, MLflow and Spark clients use the "
                                         "running stack: the prod profile, the tracking "
                                         "server with its login, the Spark master, Redis.")
    env.set_defaults(func=cmd_env)
    run = actions.add_parser("run", help="exec one service in the foreground (compose)",
                             description="Replace this process by one service's command "
                                         "line: what docker-compose.yaml runs.")
    run.add_argument("service", help="e.g. spark-master, airflow-scheduler, mlflow")
    run.set_defaults(func=cmd_run)


def _settings(args: argparse.Namespace):
    from rankct.config import load_config
    from rankct.errors import ConfigError
    from rankct.stack.settings import load_settings

    config = load_config()
    if config.profile != "prod":
        raise ConfigError(f"the stack runs the production profile, not {config.profile!r}",
                          hint="add --profile prod (or set RANKCT_PROFILE=prod)")
    return load_settings(config, executor=getattr(args, "executor", None),
                         broker=getattr(args, "broker", None))


def cmd_up(args: argparse.Namespace) -> int:
    from rankct.stack.control import up

    settings = _settings(args)
    if args.free_ports:
        settings = settings.with_free_ports()
    rows = up(settings, timeout=args.timeout)
    _print_rows(rows)
    print("client environment: eval \"$(rankct stack env)\"")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from rankct.stack.control import down, recorded_settings

    down(recorded_settings(_settings(args)), timeout=args.timeout)
    return 0


def _print_rows(rows: list[dict]) -> None:
    for row in rows:
        mark = "healthy" if row["healthy"] else ("running" if row["alive"] else "DOWN")
        print(f"  {row['name']:<22} {mark:<8} pid {row['pid']:<8} {row['url'] or '-':<24} "
              f"{row['log']}")


def cmd_status(args: argparse.Namespace) -> int:
    from rankct.stack.control import recorded_settings, service_status

    settings = recorded_settings(_settings(args))
    rows = service_status(settings)
    if args.json:
        print(json.dumps({"home": str(settings.home), "services": rows}, indent=2))
    elif not rows:
        print(f"no stack recorded under {settings.home} (rankct stack up --profile prod)")
    else:
        _print_rows(rows)
    return 0 if rows and all(r["healthy"] for r in rows) else 3


def cmd_env(args: argparse.Namespace) -> int:
    from rankct.stack.control import env_lines

    print("\n".join(env_lines(_settings(args))))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from rankct.stack.control import run_service

    run_service(_settings(args), args.service)
    return 0  # not reached: the service replaced this process
