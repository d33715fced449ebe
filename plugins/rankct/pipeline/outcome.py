"""Where a day's training run ends: the ``state`` of ``runs/dt=D/outcome.json``, which the
stages record, the failure callback overrides, and ``rankct status`` and the run summary read."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """A day's outcome. Members are their strings (``Outcome.PROMOTED == "promoted"``), so
    the JSON on disk and anything comparing with the text are unchanged."""

    RUNNING = "running"  # set when the run starts
    STOPPED_DATA_GATE_1 = "stopped at data gate 1"
    WARM_UP = "warm-up"  # too little history to train: the rest of the run is skipped
    STOPPED_DATA_GATE_2 = "stopped at data gate 2"
    PASSED = "passed"  # passed the model gate, not promoted yet
    PROMOTED = "promoted"
    REJECTED = "rejected"
    FAILED = "failed"  # an unexpected error (set by the failure callback)


# A gate stopped the day on purpose: its data needs a look, nothing is broken.
GATE_STOPS = frozenset({Outcome.STOPPED_DATA_GATE_1, Outcome.STOPPED_DATA_GATE_2})
# Outcomes a stage records itself when it ends a run on purpose.
DELIBERATE_STOPS = GATE_STOPS | {Outcome.WARM_UP, Outcome.REJECTED, Outcome.PROMOTED}
# A run that ended in one of these did not finish: a task failed, or it stopped half-way.
UNFINISHED = frozenset({Outcome.FAILED, Outcome.RUNNING, Outcome.PASSED})
