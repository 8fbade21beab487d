"""`streamsim bench stack` on a real stack: it runs, samples every part and gives a verdict."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# About 2.5 minutes on a quiet machine; a start retried on a taken port, at load 40, three
# or four more.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_a_short_run_at_a_small_wave_prints_its_series_and_verdict(tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).parent / "streamsim"),
        *("bench", "stack", "--minutes", "1", "--peak", "2", "--interval", "5"),
        *("--keep", str(tmp_path / "state")),
    ]

    bench = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = bench.communicate(timeout=840)
    except subprocess.TimeoutExpired:
        # Ctrl-C, not a kill: the bench then stops its stack, which a killed bench would leave.
        bench.send_signal(signal.SIGINT)
        bench.communicate(timeout=600)
        raise

    assert bench.returncode == 0, err[-3000:]
    result = json.loads(out)
    assert result["setup"]["peak"] == 2
    samples = result["samples"]
    assert len(samples) >= 8
    assert samples[-1]["produced"] > samples[0]["produced"]
    assert any(sample["active_users"] for sample in samples)
    assert {"kafka", "sink", "ray", "users", "servers", "dagster"} <= set(result["parts"])
    assert result["parts"]["kafka"]["rss_peak_mb"] > 50
    assert isinstance(result["lag"]["bounded"], bool)
    assert isinstance(result["held"], bool)
    assert result["run_summary"]["lost_total"] == 0
