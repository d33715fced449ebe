"""The command line: help everywhere, and expected failures without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rankct.cli import build_parser, main

COMMANDS = ["simulate", "validate", "ingest", "features", "demo", "run", "status", "ui",
            "stack"]
STACK_ACTIONS = [["stack", a] for a in ("up", "down", "status", "env", "run")]


FEATURE_ACTIONS = [["features", a] for a in ("build", "apply", "materialize", "check-skew",
                                                 "training-set")]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS), *FEATURE_ACTIONS,
                                     *STACK_ACTIONS])
def test_every_command_has_help(command, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: rankct" in capsys.readouterr().out


def test_simulate_prints_rows_per_second(tmp_path, capsys) -> None:
    assert main(["simulate", "--out", str(tmp_path), "--days", "1", "--scale", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "impressions/s" in out and "impressions" in out


def test_bad_fault_is_a_message_not_a_traceback(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rankct.cli", "simulate", "--out", str(tmp_path), "--days", "2",
         "--scale", "tiny", "--inject", "meteor_strike:1"], check=False, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown fault 'meteor_strike'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_validate_on_a_missing_day_exits_non_zero_with_the_rule(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rankct.cli", "validate", "--data", str(tmp_path / "nothing"),
         "--date", "2026-11-03", "--reports", str(tmp_path / "reports")],
        check=False, capture_output=True, text=True)
    assert proc.returncode == 3
    assert "impressions dt=2026-11-03 rule=partition_exists" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "reports" / "data_gate" / "dt=2026-11-03" / "result.json").exists()


def test_invalid_date_is_rejected_by_the_parser(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["validate", "--data", "x", "--date", "yesterday"])
    assert exit_.value.code == 2
    assert "is not a date" in capsys.readouterr().err


def test_every_command_takes_profile_before_or_after_it() -> None:
    parser = build_parser()
    assert parser.parse_args(["--profile", "prod", "status"]).profile == "prod"
    assert parser.parse_args(["status", "--profile", "prod"]).profile == "prod"
    assert parser.parse_args(["stack", "up", "--profile", "prod"]).profile == "prod"
    assert parser.parse_args(["features", "apply", "--profile", "gcp"]).profile == "gcp"
    assert not hasattr(parser.parse_args(["status"]), "profile")  # $RANKCT_PROFILE decides


def test_profile_overrides_the_environment(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RANKCT_PROFILE", "prod")
    monkeypatch.setenv("RANKCT_HOME", str(tmp_path))
    # The stack refuses any profile but prod, naming the one the command ran with.
    assert main(["stack", "env", "--profile", "local"]) == 2
    assert "not 'local'" in capsys.readouterr().err
