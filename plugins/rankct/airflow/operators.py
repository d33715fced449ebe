"""The operator every rankct task uses: run one library stage for the DAG run's day.

A stage is a plain function ``stage(config, day, **kwargs) -> summary`` from ``rankct.pipeline``
or ``rankct.monitoring``, named by its import path so that parsing a DAG file imports nothing
heavy. Its summary becomes the task's XCom; addresses in it become the task's links.

Expected failures (:class:`rankct.errors.RankctError`: a gate that stopped, a check that found a
problem, a missing input) fail the task at once, without retries: retrying cannot fix bad data.
A service that did not answer (:class:`rankct.errors.ServiceUnavailable`, after the library's
own retries) is retried like anything unexpected: it may be back by the next try. A warm-up day
skips the rest of the run.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk import BaseOperator, BranchMixIn, SkipMixin
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from rankct.airflow.gcp import use_connection_credentials
from rankct.airflow.links import LINKS
from rankct.airflow.runtime import run_config, run_day

# Where a failing stage leaves its message for the failure callback: `airflow dags test` does
# not put the exception into the callback's context as the task runner does.
FAILURE_KEY = "rankct_failure"


def import_stage(path: str) -> Callable[..., dict[str, Any]]:
    """``"rankct.pipeline.prepare:validate_raw"`` -> the function."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def run_stage(task: BaseOperator, context: Any, stage: str, stage_kwargs: dict[str, Any],
              on_skip: Callable[[Any, Exception], None] | None = None) -> dict[str, Any]:
    """Run the library ``stage`` for the run's day as ``task``: its summary (with the stage's
    time and its SparkSession start-up, which the pipeline benchmark splits) is the task's
    XCom, its addresses the task's links; expected failures fail the task without retries."""
    from rankct.errors import RankctError, StageSkipped
    from rankct.spark import SESSION_STARTS

    started, spark_starts = time.perf_counter(), len(SESSION_STARTS)
    try:
        fn = import_stage(stage)
        config, day = run_config(context), run_day(context)
        use_connection_credentials(config)
        task.log.info("rankct stage %s for %s (profile %s, home %s)", stage, day,
                      config.profile, config.home)
        summary = fn(config, day, **stage_kwargs) or {}
    except StageSkipped as skipped:
        if on_skip is not None:
            on_skip(context, skipped)
        raise AirflowSkipException(str(skipped)) from skipped
    except RankctError as failure:
        context[FAILURE_KEY] = str(failure)
        if failure.retryable:  # a service is down: Airflow's retries, then a failure
            raise
        # Bad input or a failed gate: the message says what and what to do; no retry.
        _push_links(task, context, getattr(failure, "summary", {}))  # e.g. the drift report
        raise AirflowFailException(str(failure)) from failure
    except Exception as failure:
        context[FAILURE_KEY] = f"{type(failure).__name__}: {failure}"
        raise
    summary = {**summary, "stage_seconds": round(time.perf_counter() - started, 3),
               "spark_start_seconds": round(sum(SESSION_STARTS[spark_starts:]), 3)}
    _push_links(task, context, summary)
    return summary


def _push_links(task: BaseOperator, context: Any, summary: dict[str, Any]) -> None:
    for link in task.operator_extra_links:
        if summary.get(link.summary_field):
            context["ti"].xcom_push(key=link.xcom_key, value=summary[link.summary_field])


class StageOperator(BaseOperator):
    """Run the library stage ``stage`` (``"module:function"``) for the run's day.

    ``links`` names the task's links in the UI (``mlflow``, ``report``, ``decision``): what the
    stage produces, so a task shows only links it can fill.
    """

    template_fields = ("stage_kwargs",)
    ui_color = "#e8f0fe"

    def __init__(self, *, stage: str, stage_kwargs: dict[str, Any] | None = None,
                 links: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stage = stage
        self.stage_kwargs = stage_kwargs or {}
        self.operator_extra_links = tuple(LINKS[name] for name in links)

    def run_stage(self, context: Any) -> dict[str, Any]:
        return run_stage(self, context, self.stage, self.stage_kwargs, on_skip=self.on_skip)

    def on_skip(self, context: Any, skipped: Exception) -> None:
        """What a :class:`StageSkipped` does besides skipping this task: nothing here."""

    def execute(self, context: Any) -> dict[str, Any]:
        return self.run_stage(context)


class ShortCircuitStageOperator(StageOperator, SkipMixin):
    """A stage that may end the run early (a warm-up day): on :class:`StageSkipped` it succeeds
    and skips every task downstream of it in one step, as ShortCircuitOperator does, instead of
    leaving Airflow to skip them one level per scheduling round (a second each)."""

    def on_skip(self, context: Any, skipped: Exception) -> None:
        self.log.info("%s: skipping every downstream task", skipped)
        self.skip(ti=context["ti"], tasks=self.get_flat_relatives(upstream=False))


class GateOperator(StageOperator, BranchMixIn):
    """A stage whose summary's ``passed`` chooses the branch: ``if_passed`` or ``if_failed``."""

    ui_color = "#fff4e5"

    def __init__(self, *, if_passed: str | Sequence[str], if_failed: str | Sequence[str],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.if_passed, self.if_failed = if_passed, if_failed

    def execute(self, context: Any) -> dict[str, Any]:
        summary = self.run_stage(context)
        self.do_branch(context, self.if_passed if summary["passed"] else self.if_failed)
        return summary


class PublishingStageOperator(StageOperator):
    """A stage that updates an Asset: the event's ``extra`` gets the listed summary fields."""

    def __init__(self, *, extra_fields: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.extra_fields = list(extra_fields)

    def execute(self, context: Any) -> dict[str, Any]:
        summary = self.run_stage(context)
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = {
                field: summary[field] for field in self.extra_fields if field in summary}
        return summary
