"""The main job behind ``make run``: simulate two weeks of a small marketplace with one damaged
day under ``$RANKCT_HOME``, run the training DAG for every day through ``airflow dags test``,
then batch scoring and monitoring, and print the summary."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

from rankct.config import RankctConfig, load_config
from rankct.errors import RankctError
from rankct.orchestrate.run import Progress, run_pipeline
from rankct.orchestrate.summary import summarize
from rankct.pipeline.outcome import GATE_STOPS, UNFINISHED, Outcome
from rankct.simulate import simulate
from rankct.simulate.run import DEFAULT_START

BAD_DAY = 10
BAD_FAULT = "events_before_impression"
# A state folder the demo made (and may therefore wipe for a fresh run) carries this marker.
DEMO_MARKER = ".rankct-demo"


def reset_home(config: RankctConfig) -> None:
    """Empty the state folder for a fresh demo: only one the demo created, or an empty one."""
    home = config.home
    if home.exists() and any(home.iterdir()) and not (home / DEMO_MARKER).exists():
        raise RankctError(f"{home} holds state the demo did not create; not deleting it",
                          hint="delete it (`make clean`) or point RANKCT_HOME at an empty folder")
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    (home / DEMO_MARKER).write_text("created by `rankct demo`; `rankct demo` may delete it\n")


def run_demo(days: int = 14, scale: str = "small", seed: int = 7, fresh: bool = True) -> int:
    """Simulate ``days`` days (one damaged) and run the whole loop over them; 0 when every day
    ended as expected (the damaged one at the data gate, no failed task)."""
    config, progress = load_config(), Progress()
    if fresh:
        reset_home(config)
    faults = {BAD_FAULT: str(BAD_DAY)} if days >= BAD_DAY else {}
    progress.say(f"simulating {days} days ({scale}) into {config.data_root}")
    simulate(config.data_root, days=days, scale=scale, seed=seed, faults=faults,
             progress=lambda d, n, e: progress.say(f"  {d}: {n:,} impressions"))
    end = DEFAULT_START + timedelta(days=days - 1)
    report = run_pipeline(config, DEFAULT_START, end, progress=progress)
    bad = DEFAULT_START + timedelta(days=BAD_DAY - 1) if faults else None
    text, document = summarize(config, report, bad_day=bad)
    print(text)
    return _exit_code(document, bad)


def run_range(start: date, end: date, data_root=None) -> int:
    """``rankct run``: the same loop over a user's own contract data (``data_root/raw``);
    on the prod profile through the stack's scheduler (:mod:`rankct.orchestrate.scheduler_run`)."""
    config, progress = load_config(), Progress()
    if data_root is not None:
        link_raw_data(config, data_root)
    if config.profile == "prod":  # the stack's scheduler runs the DAGs, this process watches
        from rankct.orchestrate.scheduler_run import run_on_stack

        config, report = run_on_stack(config, start, end, progress)
    else:
        report = run_pipeline(config, start, end, progress=progress)
    text, document = summarize(config, report)
    print(text)
    return _exit_code(document, None)


def link_raw_data(config: RankctConfig, data_root) -> None:
    """Make ``<home>/data/raw`` (and ``truth`` if present) point at the user's data root."""
    from pathlib import Path

    source = Path(data_root).resolve()
    if not (source / "raw").is_dir():
        raise RankctError(f"{source} has no raw/ folder",
                          hint="the data root holds raw/<table>/dt=YYYY-MM-DD/ partitions "
                               "(README: raw-data contract; `rankct ingest` makes them)")
    config.data_root.mkdir(parents=True, exist_ok=True)
    for name in ("raw", "truth"):
        target, link = source / name, config.data_root / name
        if not target.exists():
            continue
        if link.is_symlink() and link.resolve() == target:
            continue
        if link.exists() or link.is_symlink():
            raise RankctError(f"{link} already holds other data",
                              hint="use a fresh RANKCT_HOME per data root")
        link.symlink_to(target)


def _exit_code(document: dict, bad: date | None) -> int:
    """1 when a day failed or the planted bad day got through; 3 when a gate stopped a day
    nobody damaged on purpose (data that needs a look); else 0."""
    outcomes = document["outcomes"]
    if any(o["state"] in UNFINISHED for o in outcomes):
        return 1
    if bad is not None and not any(o["day"] == bad.isoformat()
                                   and o["state"] == Outcome.STOPPED_DATA_GATE_1 for o in outcomes):
        return 1
    stopped = [o for o in outcomes if o["state"] in GATE_STOPS
               and (bad is None or o["day"] != bad.isoformat())]
    return 3 if stopped else 0
