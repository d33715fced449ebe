"""Why a worker's Spark JVM is gone: what the failed test's report says about it."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

# Spark's own exit statuses (org.apache.spark.util.SparkExitCode).
_SPARK_EXIT_CODES = {
    0: "exit status 0: its stdin, the pipe from this Python process, was closed (PySpark's "
       "gateway takes that as the driver's end)",
    50: "exit status 50: an uncaught exception in a Spark thread",
    52: "exit status 52: java.lang.OutOfMemoryError (raise spark.driver.memory, or find what "
        "the test collected to the driver)",
}


def _available_memory_mb() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return f"{int(line.split()[1]) // 1024} MB"
    except OSError:
        pass
    return "unknown"


def jvm_exit_report(process: subprocess.Popen) -> str:
    """How the JVM ``process`` ended, its crash file if it left one, and the memory left now."""
    code = process.returncode
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        how = f"killed by {name}"
        if -code == signal.SIGKILL:
            how += (" - no test signals this JVM, so most likely the kernel's OOM killer: "
                    "see `dmesg | grep -i oom`")
    else:
        how = _SPARK_EXIT_CODES.get(code, f"exit status {code}")
    lines = [f"The worker's Spark JVM (pid {process.pid}) is gone: {how}.",
             f"Memory available on the machine now: {_available_memory_mb()}."]
    crash_file = Path.cwd() / f"hs_err_pid{process.pid}.log"
    if crash_file.exists():
        lines += [f"The JVM's crash file {crash_file}:", *crash_file.read_text(
            errors="replace").splitlines()[:60]]
    return "\n".join(lines)
