"""Stages before training: data gate 1, features, materialization and the training set."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from rankct.config import RankctConfig
from rankct.contract import SUCCESS_MARKER, list_partitions
from rankct.io import write_text_atomic
from rankct.online.feast_repo import FEATURE_TTL_DAYS
from rankct.pipeline.day import DayRun
from rankct.pipeline.outcome import Outcome

if TYPE_CHECKING:
    from pyspark.sql import SparkSession



def _spark(config: RankctConfig, spark: SparkSession | None) -> SparkSession:
    from rankct.spark import get_spark

    return spark or get_spark(config.spark)


def validate_raw(config: RankctConfig, day: date,
                 spark: SparkSession | None = None) -> dict[str, Any]:
    """Data gate 1 on ``day``'s raw partitions; raises :class:`DataGateFailed` when it fails
    (the day's outcome then says so, and nothing downstream runs)."""
    from rankct.errors import DataGateFailed
    from rankct.quality.gate import require_pass, validate_partition
    from rankct.reports.evidently_io import snapshot_path
    from rankct.reports.workspace import add_report

    run = DayRun(config, day)
    run.record_outcome(Outcome.RUNNING, "data gate 1")
    if config.gcp.raw_store == "bigquery":
        # Upstream, in BigQuery: the day is checked there and, passed, exported to the offline
        # store's raw partitions, where the feature jobs read it as they read local data.
        from rankct.gcp.export import export_day
        from rankct.quality.bigquery import validate_bigquery

        result = validate_bigquery(day, config)
        if result.passed:
            export_day(day, config, validation=result)
    else:
        result = validate_partition(config.data_root, day, config, _spark(config, spark))
    report_url = None
    if result.report_html:
        report_url = add_report(config, snapshot_path(result.report_html), "data_quality",
                                name=f"raw data {day}").url
    try:
        require_pass(result)
    except DataGateFailed as failure:
        run.record_outcome(Outcome.STOPPED_DATA_GATE_1, _first_reason(failure),
                           report=result.report_html)
        raise
    return run.write("validate_raw", {
        "day": day.isoformat(), "passed": True, "result": result.result_json,
        "report": result.report_html, "report_url": report_url,
        **(_bigquery_links(config, result.jobs) if result.jobs else {})})


def _bigquery_links(config: RankctConfig, jobs: list[str]) -> dict[str, Any]:
    """The gate's BigQuery job ids, and the console page of the last (every content rule in
    one query: where a failure's rows are found) for the task's link."""
    from rankct.gcp.clients import job_console_url

    return {"bigquery_jobs": jobs, "bigquery_url": job_console_url(config.gcp, jobs[-1])}


def _first_reason(failure: Exception) -> str:
    """The line of an expected failure's message that names what failed."""
    lines = [line.strip() for line in str(failure).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 and not lines[1].startswith("->") else lines[0]


def build_features(config: RankctConfig, day: date,
                   spark: SparkSession | None = None) -> dict[str, Any]:
    """The feature tables as of the end of ``day`` (what the Spark job does, in-process)."""
    from rankct.features.build import build_day

    written = build_day(_spark(config, spark), config.data_root, day, config)
    return {"day": day.isoformat(), "tables": {name: str(path) for name, path in written.items()}}


def apply_feature_repo(config: RankctConfig, day: date | None = None) -> dict[str, Any]:
    """``feast apply`` of ``feature_repo/`` when its definitions changed since the last apply.

    The fingerprint of the definitions and the profile's store file is kept beside Feast's
    registry, so the daily run pays for an apply (a Feast process, tens of seconds) only after a
    change, and a registry that was deleted is rebuilt.
    """
    from rankct.online.feast_repo import definitions_fingerprint, feast_cli

    fingerprint = definitions_fingerprint(config)
    marker = config.home / "feast" / f"applied.{config.profile}.sha256"
    registry = config.home / "feast" / "registry.db"
    if marker.exists() and marker.read_text() == fingerprint and registry.exists():
        return {"applied": False, "fingerprint": fingerprint}
    feast_cli(config, "apply")
    write_text_atomic(marker, fingerprint)
    return {"applied": True, "fingerprint": fingerprint}


def materialize(config: RankctConfig, day: date) -> dict[str, Any]:
    """Load ``day``'s features into the online store (after :func:`apply_feature_repo`).

    An online store that does not answer (Redis restarting) is retried: a re-run writes the
    same values and never overwrites a newer one, so a write cut short is simply done again.
    """
    from rankct.online.materialize import materialize_day
    from rankct.retry import with_retries

    stats = with_retries(lambda: materialize_day(config, day),
                         what=f"materializing {day} into the {config.profile} online store",
                         hint="check that the online store (Redis: RANKCT_REDIS) is up; the "
                              "task can simply run again")
    return {"day": day.isoformat(),
            "views": {s.view: {"rows": s.rows, "rows_per_second": round(s.rows_per_second)}
                      for s in stats}}


def stopped_days(config: RankctConfig) -> set[date]:
    """Days whose raw data the data gate stopped: never trained on."""
    stopped = set()
    for result in (config.reports_dir / "data_gate").glob("dt=*/result.json"):
        if not json.loads(result.read_text()).get("passed", False):
            stopped.add(date.fromisoformat(result.parent.name.removeprefix("dt=")))
    return stopped


def usable_days(config: RankctConfig, day: date) -> list[date]:
    """The days of ``day``'s training window that can be trained on: raw data present, passed
    the data gate, and features to join (a partition within the online TTL before the day;
    the first days of a new deployment have none)."""
    from rankct.features.build import FeaturePaths

    start, end = DayRun(config, day).window
    present = set(list_partitions(config.data_root, "impressions"))
    skipped = stopped_days(config)
    paths = FeaturePaths(config.data_root)

    def has_features(d: date) -> bool:
        return any((paths.table("item_features", d - timedelta(days=back)) / SUCCESS_MARKER)
                   .exists() for back in range(1, FEATURE_TTL_DAYS + 1))

    return [d for d in (start + timedelta(days=i) for i in range((end - start).days + 1))
            if d in present and d not in skipped and has_features(d)]


def check_history(config: RankctConfig, day: date) -> dict[str, Any]:
    """Whether ``day`` can train: raises :class:`StageSkipped` on a warm-up day (too few usable
    days in the window), after recording the outcome; the features were still built."""
    from rankct.errors import StageSkipped

    run = DayRun(config, day)
    days = usable_days(config, day)
    summary = run.write("history", {"day": day.isoformat(), "usable_days": [d.isoformat()
                                                                          for d in days],
                                    "needed": config.pipeline.min_history_days,
                                    "enough": len(days) >= config.pipeline.min_history_days})
    if not summary["enough"]:
        detail = (f"{len(days)} usable day(s) in the window, {summary['needed']} needed "
                  "to train")
        run.record_outcome(Outcome.WARM_UP, detail)
        raise StageSkipped(f"warm-up on {day}: {detail}",
                           hint="nothing to do: later days train once enough history exists")
    return summary


def make_training_set(config: RankctConfig, day: date,
                      spark: SparkSession | None = None) -> dict[str, Any]:
    """Labelled impressions of the window joined point-in-time with ``ranker_v1``, written as one
    parquet partition under the day's run folder (replaced atomically on a re-run)."""
    import pyarrow as pa

    from rankct.io import write_partition
    from rankct.online.feast_repo import feature_store
    from rankct.online.retrieval import model_columns
    from rankct.training_set import training_set
    from rankct.training_slices import sliced_training_set

    run = DayRun(config, day)
    days = usable_days(config, day)
    start, end = run.window
    skip = {start + timedelta(days=i) for i in range((end - start).days + 1)} - set(days)
    if config.pipeline.reuse_training_slices:
        # Only the newest days are joined again; the rest of the window is read back.
        frame = sliced_training_set(_spark(config, spark), config.data_root, min(days), max(days),
                                    config, config.home / "training_slices", skip=sorted(skip),
                                    max_requests=config.pipeline.max_training_requests)
    else:
        frame = training_set(_spark(config, spark), config.data_root, min(days), max(days),
                             config, skip=skip,
                             max_requests=config.pipeline.max_training_requests)
    write_partition(pa.Table.from_pandas(frame, preserve_index=False), run.training_set)
    return run.write("training_set", {
        "day": day.isoformat(), "path": str(run.training_set), "rows": len(frame),
        "requests": int(frame["request_id"].nunique()), "days": [d.isoformat() for d in days],
        "features": model_columns(feature_store(config)),
        "label_rate": float((frame["grade"] > 0).mean())})
