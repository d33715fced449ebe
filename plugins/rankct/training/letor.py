"""LETOR / SVMlight ranking files (MSLR-WEB10K, Yahoo LTR, Istella...) as training frames.

A line reads ``grade qid:Q id:value id:value ... [# comment]``: an integer relevance grade, the
query id, then feature ids counted from 1 in ascending order. The frame has the columns
``request_id`` (the qid), ``grade`` and ``f1`` .. ``fN`` (float32), NaN where a line does not
name a feature; rows keep the file's order, which for these files is the order of the lists.

Parsing is scikit-learn's compiled SVMlight reader (a million lines in seconds; scikit-learn
comes with MLflow and Evidently). When it refuses a file, or accepts one that breaks a rule it
does not check (a missing qid, a fractional or negative grade), a line-by-line pass finds the first
bad line so the error can name it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from rankct.errors import RankctError

LINE_FORMAT = "each line must read `grade qid:Q 1:v 2:v ... [# comment]` with ascending ids >= 1"


def feature_names(n_features: int) -> list[str]:
    """The frame's feature columns for files with ``n_features`` features: f1..fN."""
    return [f"f{i}" for i in range(1, n_features + 1)]


def _line_problem(line: str) -> str | None:
    """What is wrong with one line, None when it is well formed (comments already cut)."""
    tokens = line.split()
    try:
        grade = float(tokens[0])
    except ValueError:
        return f"grade {tokens[0]!r} is not a number"
    if grade < 0 or not grade.is_integer():
        return f"grade {tokens[0]!r} is not a non-negative integer"
    if len(tokens) < 2 or not tokens[1].startswith("qid:"):
        return "no qid:Q after the grade"
    try:
        int(tokens[1][4:])
    except ValueError:
        return f"qid {tokens[1][4:]!r} is not an integer"
    previous = 0
    for token in tokens[2:]:
        key, sep, value = token.partition(":")
        try:
            index = int(key)
            float(value)
        except ValueError:
            return f"{token!r} is not id:value"
        if not sep or index <= previous:
            return f"feature id in {token!r} is not ascending from 1"
        previous = index
    return None


def _first_bad_line(path: Path) -> tuple[int, str] | None:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.partition("#")[0].strip()
            if line:
                problem = _line_problem(line)
                if problem:
                    return number, problem
    return None


def _bad_file(path: Path, cause: str) -> RankctError:
    found = _first_bad_line(path)
    where = f"{path}:{found[0]}: {found[1]}" if found else f"{path}: {cause}"
    return RankctError(f"cannot read LETOR file {where}", hint=LINE_FORMAT)


def load_letor(path: Path | str, n_features: int | None = None) -> pd.DataFrame:
    """One LETOR file as a frame (request_id, grade, f1..fN); N is the largest id in the file,
    or ``n_features`` when given (it must be at least that)."""
    from sklearn.datasets import load_svmlight_file

    path = Path(path)
    if not path.is_file():
        raise RankctError(f"LETOR file {path} does not exist", hint="check the path")
    try:
        matrix, labels, qid = load_svmlight_file(str(path), query_id=True, zero_based=False,
                                                 dtype=np.float32)
    except ValueError as exc:
        raise _bad_file(path, str(exc)) from None
    if matrix.shape[0] == 0:
        raise RankctError(f"LETOR file {path} holds no rows", hint=LINE_FORMAT)
    # The compiled reader lets a line without qid through (the qid array comes back short).
    if len(qid) != matrix.shape[0] or (labels < 0).any() or (labels != np.round(labels)).any():
        raise _bad_file(path, "a line lacks its qid or has a grade that is not an integer >= 0")
    width = matrix.shape[1] if n_features is None else n_features
    if width < matrix.shape[1]:
        raise RankctError(f"LETOR file {path} has feature ids up to {matrix.shape[1]}, more than "
                          f"the {n_features} expected", hint="load the files with the same width")
    # Absent ids are missing values (NaN), explicit zeros stay zeros: a sparse reader can't tell.
    dense = np.full((matrix.shape[0], width), np.nan, dtype=np.float32)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    dense[rows, matrix.indices] = matrix.data
    frame = pd.DataFrame(dense, columns=feature_names(width), copy=False)
    frame.insert(0, "request_id", np.asarray(qid, dtype=np.int64))
    frame.insert(1, "grade", labels.astype(np.int64))
    return frame


def load_letor_files(paths: Sequence[Path | str]) -> list[pd.DataFrame]:
    """Several LETOR files (train, validation, test) with the same feature columns: the widest
    file decides N, narrower files get NaN in the columns they never name."""
    frames = [load_letor(path) for path in paths]
    width = max(len(frame.columns) - 2 for frame in frames)
    columns = ["request_id", "grade", *feature_names(width)]
    return [frame.reindex(columns=columns) for frame in frames]
