"""LETOR / SVMlight files: parsing, errors that name the line, and `rankct train --letor` end to
end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rankct.cli import main
from rankct.errors import RankctError
from rankct.training.letor import load_letor, load_letor_files

from tests.unit.test_training import FEATURES, synthetic_frame


def write_letor(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as SVMlight with integer qids; NaN features are left out of the line."""
    qids, _ = pd.factorize(frame["request_id"])
    lines = ["# synthetic LETOR file"]
    for qid, (_, row) in zip(qids, frame.iterrows(), strict=True):
        pairs = " ".join(f"{i}:{row[name]:.6g}" for i, name in enumerate(FEATURES, start=1)
                         if not np.isnan(row[name]))
        lines.append(f"{int(row['grade'])} qid:{qid + 1} {pairs} # {row['request_id']}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_parses_grades_qids_comments_and_missing_features(tmp_path: Path) -> None:
    path = tmp_path / "tiny.txt"
    path.write_text("# header\n2 qid:10 1:0.5 2:0 4:1.5 # doc a\n0 qid:10 1:0.1 3:7\n\n"
                    "1 qid:11 2:3 #c\n")
    frame = load_letor(path)
    assert list(frame.columns) == ["request_id", "grade", "f1", "f2", "f3", "f4"]
    assert frame["request_id"].tolist() == [10, 10, 11]
    assert frame["grade"].tolist() == [2, 0, 1]
    assert frame.loc[0, "f2"] == 0.0  # an explicit zero is a value
    assert np.isnan(frame.loc[0, "f3"]) and np.isnan(frame.loc[2, "f1"])  # absent is missing
    assert frame.loc[1, "f3"] == pytest.approx(7.0)


def test_files_of_different_widths_get_the_same_columns(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("1 qid:1 1:1 5:2\n")
    (tmp_path / "b.txt").write_text("0 qid:2 2:1\n")
    wide, narrow = load_letor_files([tmp_path / "a.txt", tmp_path / "b.txt"])
    assert list(wide.columns) == list(narrow.columns) == \
        ["request_id", "grade", "f1", "f2", "f3", "f4", "f5"]
    assert np.isnan(narrow.loc[0, "f5"])


@pytest.mark.parametrize(("line", "problem"), [
    ("x qid:1 1:3", "grade 'x' is not a number"),
    ("1.5 qid:1 1:3", "not a non-negative integer"),
    ("-1 qid:1 1:3", "not a non-negative integer"),
    ("1 1:3 2:4", "no qid"),
    ("1 qid:1 1:abc", "'1:abc' is not id:value"),
    ("1 qid:1 2:1 1:3", "not ascending"),
    ("1 qid:1 0:1", "not ascending from 1"),
])
def test_bad_line_is_named_with_its_number(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(f"# comment\n2 qid:1 1:0.5 2:1\n\n{line} # the bad one\n0 qid:2 1:1\n")
    with pytest.raises(RankctError, match=re.escape("bad.txt:4: ")) as error:
        load_letor(path)
    assert problem in str(error.value)
    assert "qid:Q" in str(error.value.hint)


def test_train_command_on_letor_files_prints_test_metrics(tmp_path: Path, capsys,
                                                          monkeypatch) -> None:
    monkeypatch.setenv("RANKCT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RANKCT__TRAINING__NTHREAD", "1")  # XGBoost's pool stalls on busy cores
    frame = synthetic_frame(n_requests=240, days=6, seed=3)
    requests = frame["request_id"].drop_duplicates().sort_values().tolist()
    paths = {}
    for name, chosen in (("train", requests[:160]), ("valid", requests[160:200]),
                         ("test", requests[200:])):
        part = frame[frame["request_id"].isin(chosen)].sort_values(["request_id", "position"])
        paths[name] = write_letor(part, tmp_path / f"{name}.txt")
    model = tmp_path / "out" / "model.json"
    code = main(["train", "--letor", str(paths["train"]), "--valid", str(paths["valid"]),
                 "--test", str(paths["test"]), "--objective", "rank:pairwise", "--search", "2",
                 "--out", str(model)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "requests: train 160, valid 40, test 40" in out
    metrics = dict(re.findall(r"(NDCG@\d+|MAP|MRR) (\d\.\d{4})", out))
    assert set(metrics) == {"NDCG@1", "NDCG@5", "NDCG@10", "MAP", "MRR"}
    assert float(metrics["NDCG@10"]) > 0.5  # a random order scores about 0.3 on these lists
    assert re.search(r"requests \d+\s+excluded \d+", out)
    assert "training time" in out and "search: 2 trials" in out
    assert json.loads(model.read_text())["learner"]["objective"]["name"] == "rank:pairwise"


def test_the_search_picks_the_objective_on_validation_of_letor_files(tmp_path: Path) -> None:
    from rankct.config import TrainingConfig
    from rankct.training.search import random_search

    frame = synthetic_frame(n_requests=240, days=6, seed=3)
    requests = frame["request_id"].drop_duplicates().sort_values().tolist()
    files = []
    for name, chosen in (("train", requests[:160]), ("valid", requests[160:200]),
                         ("test", requests[200:])):
        part = frame[frame["request_id"].isin(chosen)].sort_values(["request_id", "position"])
        files.append(write_letor(part, tmp_path / f"{name}.txt"))
    train, valid, _ = load_letor_files(files)
    config = TrainingConfig(nthread=1, objective="rank:ndcg", num_boost_round=40,
                            early_stopping_rounds=10)
    result = random_search(train, valid, list(train.columns[2:]), config, n_trials=6)
    trials = result.trials
    # Editorial labels, no positions: the three ranking objectives, judged by NDCG@10.
    assert set(trials["objective"]) <= {"rank:ndcg", "rank:pairwise", "lambdarank_unbiased"}
    assert trials["objective"].nunique() >= 2
    best = trials.loc[trials["valid_ndcg@10"].idxmax()]
    assert result.best_ranker.objective == best["objective"]
    assert result.best_score == best["valid_ndcg@10"] == trials["valid_ndcg@10"].max()
    others = trials[trials["objective"] != best["objective"]]
    assert (others["valid_ndcg@10"] <= best["valid_ndcg@10"]).all()


def test_train_command_errors_exit_2_without_traceback(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("1 qid:1 1:0.5\n1 qid:1 1:oops\n")
    assert main(["train", "--letor", str(bad), "--valid", str(bad), "--test", str(bad)]) == 2
    assert "bad.txt:2:" in capsys.readouterr().err
    assert main(["train", "--letor", str(bad)]) == 2
    assert "--valid and --test" in capsys.readouterr().err
    assert main(["train", "--frame", str(tmp_path / "none.parquet")]) == 2
    assert "does not exist" in capsys.readouterr().err
