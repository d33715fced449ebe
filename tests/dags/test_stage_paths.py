"""Every task of every DAG names code that exists: a StageOperator's ``module:function`` stage
imports and is callable, a Spark job's application file is there. A typo fails here, not in a
whole DAG run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dags.test_dag_integrity import DAGS


def _missing_code(task) -> str | None:
    """What ``task`` names that does not exist, or None."""
    from rankct.airflow.operators import StageOperator, import_stage

    if isinstance(task, StageOperator):
        try:
            stage = import_stage(task.stage)
        except (ImportError, AttributeError) as error:
            return f"stage {task.stage!r}: {type(error).__name__}: {error}"
        return None if callable(stage) else f"stage {task.stage!r} is not callable"
    application = getattr(task, "application", None)
    if application is not None and not Path(application).is_file():
        return f"Spark application {application} does not exist"
    return None


@pytest.mark.parametrize("dag_id", sorted(DAGS))
def test_every_task_names_code_that_exists(dagbag, dag_id) -> None:
    dag = dagbag.dags[dag_id]
    stages = [task for task in dag.tasks if hasattr(task, "stage")]
    assert stages, f"{dag_id} has no StageOperator task"
    problems = {task.task_id: problem for task in dag.tasks
                if (problem := _missing_code(task)) is not None}
    assert problems == {}, f"{dag_id} names code that does not exist: {problems}"
