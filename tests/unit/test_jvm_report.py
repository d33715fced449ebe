"""What a failed test says when its worker's Spark JVM is gone (tests/jvm_report.py), for
processes that really ended those ways."""

from __future__ import annotations

import signal
import subprocess

from tests.jvm_report import jvm_exit_report


def test_a_killed_process_is_named_with_its_signal_and_the_oom_killer() -> None:
    process = subprocess.Popen(["sleep", "60"])
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    report = jvm_exit_report(process)
    assert f"(pid {process.pid}) is gone: killed by SIGKILL" in report
    assert "OOM killer" in report and "Memory available on the machine now:" in report


def test_sparks_exit_statuses_are_explained_and_a_crash_file_is_shown(tmp_path,
                                                                       monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    process = subprocess.Popen(["sh", "-c", "exit 52"])
    process.wait(timeout=10)
    (tmp_path / f"hs_err_pid{process.pid}.log").write_text(
        "# A fatal error has been detected by the Java Runtime Environment\n")
    report = jvm_exit_report(process)
    assert "exit status 52: java.lang.OutOfMemoryError" in report
    assert "A fatal error has been detected" in report
    other = subprocess.Popen(["sh", "-c", "exit 3"])
    other.wait(timeout=10)
    assert "is gone: exit status 3." in jvm_exit_report(other)
