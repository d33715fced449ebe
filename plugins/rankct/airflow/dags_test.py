"""``airflow dags test`` as ``rankct run`` runs it: Airflow's own command, for a sequence of DAG
runs in one process, with the fix of apache/airflow#65235 applied where the installed Task SDK
lacks it.

``python -m rankct.airflow.dags_test ranker_continuous_training/2026-11-05 ...`` runs, for each
``DAG_ID/DAY`` in order, exactly what ``airflow dags test DAG_ID DAY`` runs (the CLI's own
parser and command function), between two marker lines that the caller splits the output by.
One process for a run's days pays once for the interpreter, Airflow's start and the imports the
tasks need (Evidently alone takes 5 to 6 seconds to import on two cores), not once a day.

``dag.test()`` runs every task in-process through an in-process Execution API. Task SDK 1.2
builds that API (a FastAPI app with Cadwyn's versioned routes, an event-loop thread, a
lifespan) anew for every task: 2 to 3 seconds each. Task SDK 1.3 caches the one instance
(``lru_cache(maxsize=1)`` on ``in_process_api_server``); :func:`cache_in_process_api` does the
same here, and nothing else. The scheduler and its executors never import this module.
"""

from __future__ import annotations

import functools
import sys
import traceback

MARKER = "rankct-dags-test"


def cache_in_process_api() -> bool:
    """Reuse one in-process Execution API per process; False when Airflow already does."""
    from airflow.sdk.execution_time import supervisor

    if hasattr(supervisor.in_process_api_server, "cache_info"):
        return False
    supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(
        supervisor.in_process_api_server)
    return True


def run(dag_id: str, day: str, conf: str | None = None) -> int:
    """``airflow dags test dag_id day [--conf conf]`` in this process; its exit status."""
    from airflow.cli import cli_parser

    args = cli_parser.get_parser().parse_args(
        ["dags", "test", dag_id, day, *(["--conf", conf] if conf else [])])
    try:
        args.func(args)
    except SystemExit as stop:  # the command's own way to say "DagRun failed"
        return stop.code if isinstance(stop.code, int) else 1
    except Exception:  # noqa: BLE001 - a run that crashed: report it, go on with the next
        traceback.print_exc()
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run every ``DAG_ID/DAY`` of ``argv`` (``--conf JSON`` first, for all of them)."""
    args = list(sys.argv[1:] if argv is None else argv)
    conf = None
    if args[:1] == ["--conf"]:
        conf, args = args[1], args[2:]
    cache_in_process_api()
    from airflow.configuration import write_default_airflow_configuration_if_needed

    write_default_airflow_configuration_if_needed()  # as airflow's own main does first
    failed = 0
    for spec in args:
        dag_id, _, day = spec.partition("/")
        print(f"{MARKER} start dag_id={dag_id} day={day}", flush=True)
        code = run(dag_id, day, conf)
        failed += code != 0
        print(f"{MARKER} end dag_id={dag_id} day={day} exit={code}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
