"""`streamsim bench warehouse` stopped by SIGTERM during its freshness run stops the stack it
started: a service manager's stop, or `timeout`, must not leave Kafka, Ray and Dagster behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

# The stack's start (about a minute) and its drain on the way down (under a minute).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_sigterm_during_the_freshness_run_stops_every_process_it_started(tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).parent / "streamsim"),
        *("bench", "warehouse", "--no-models", "--stack-seconds", "600"),
        *("--scratch", str(tmp_path)),
    ]
    bench = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = _wait_for_the_stack(tmp_path / "up.out", bench)
        family = psutil.Process(bench.pid).children(recursive=True)
        assert len(family) > 5  # up, Kafka, Ray, Dagster and the simulators

        bench.send_signal(signal.SIGTERM)
        _, err = bench.communicate(timeout=600)
    finally:
        if bench.poll() is None:
            bench.send_signal(signal.SIGINT)
            bench.communicate(timeout=600)

    assert bench.returncode == 1
    assert err.strip().splitlines()[-1] == (
        "streamsim: bench warehouse interrupted: nothing measured; the stack it started "
        "(if any) has stopped"
    )
    _, alive = psutil.wait_procs(family, timeout=30)
    assert [process.pid for process in alive] == []
    # It stopped well before the 600 s it was asked to run.
    assert time.monotonic() - started < 400


def _wait_for_the_stack(log: Path, bench: subprocess.Popen[str]) -> float:
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        assert bench.poll() is None, "the bench ended before its stack was up"
        if log.exists() and "streamsim is up" in log.read_text():
            return time.monotonic()
        time.sleep(1)
    raise AssertionError(f"the stack did not come up; see {log}")
