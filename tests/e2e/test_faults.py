"""Parts of a running stack killed with SIGKILL: `streamsim up` starts them again, loses nothing.

One run takes both faults, so the suite pays for one stack: the sink is killed while it
reads (its batch not yet written or committed), then the orchestrator is killed while it
spawns users. After each the launcher starts the part again; at the end the run summary
must count every event and the warehouse must hold each one once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from streamsim.events import ORCHESTRATOR_EVENT_TYPES
from streamsim.settings import Settings, load_settings
from streamsim.sink import read_status
from streamsim.stack.record import read_stack_record

from .test_up import BIN, SPEED, stack_env

RUN_SECONDS = 60

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass
class FaultyRun:
    settings: Settings
    summary: dict[str, Any]
    stdout: str
    killed: dict[str, int]


def pid_of(settings: Settings, part: str) -> int | None:
    record = read_stack_record(settings) or {}
    pid = record.get("pids", {}).get(part)
    return int(pid) if pid else None


def wait_for(
    condition: Callable[[], bool], up: subprocess.Popen[str], what: str, timeout_s: float = 120
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert up.poll() is None, f"streamsim up ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def kill_and_see_restarted(settings: Settings, part: str, up: subprocess.Popen[str]) -> int:
    """SIGKILL one part the launcher started, and wait until it runs under a new pid."""
    pid = pid_of(settings, part)
    assert pid is not None, f"no {part} in the stack record"
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_of(settings, part) not in (None, pid), up, f"{part} to be restarted")
    return pid


def messages_read(settings: Settings) -> int:
    return int((read_status(settings) or {}).get("messages_read", 0))


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyRun]:
    state = tmp_path_factory.mktemp("faults") / "state"
    env, _ = stack_env(state)
    settings = load_settings(state_dir=state)
    summary_file = state.parent / "summary.json"
    argv = ["up", "--duration", str(RUN_SECONDS), "--speed", str(SPEED)]
    up = subprocess.Popen(
        [str(BIN / "streamsim"), *argv, "--summary-json", str(summary_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    killed: dict[str, int] = {}
    try:
        # Starting the stack takes minutes on a loaded 2-core machine.
        wait_for(lambda: messages_read(settings) >= 500, up, "the sink to read events", 420)
        killed["sink"] = kill_and_see_restarted(settings, "sink", up)
        killed["orchestrator"] = kill_and_see_restarted(settings, "orchestrator", up)
        stdout, _ = up.communicate(timeout=600)
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate()
    assert up.returncode == 0, f"streamsim up failed:\n{stdout}"
    yield FaultyRun(settings, json.loads(summary_file.read_text()), stdout, killed)


def test_the_launcher_says_it_started_each_killed_part_again(faulty_run: FaultyRun) -> None:
    for part in faulty_run.killed:
        assert f"{part} had stopped; started it again" in faulty_run.stdout


def test_after_both_kills_no_event_type_is_short_in_the_run_summary(faulty_run: FaultyRun) -> None:
    summary = faulty_run.summary
    assert sum(summary["emitted"].values()) > 0
    assert {t: n for t, n in summary["lost"].items() if n > 0} == {}, summary
    # Known gap: an orchestrator killed with SIGKILL never writes its emit counts, so its
    # control events land uncounted and lost_total goes below 0 (the notes say why). It
    # closes when the orchestrator's counts outlive it, as the sink's offsets do.
    over = {t for t, n in summary["lost"].items() if n < 0}
    assert over <= set(ORCHESTRATOR_EVENT_TYPES), summary
    assert summary["notes"] if over else summary["lost_total"] == 0


def test_after_both_kills_the_warehouse_holds_every_event_of_the_lake_once(
    faulty_run: FaultyRun,
) -> None:
    settings = faulty_run.settings
    lake = pq.read_table(settings.lake_dir / "events", columns=["event_id"]).column("event_id")
    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        rows = db.execute("SELECT event_id, count(*) FROM staging.events GROUP BY 1").fetchall()
    assert [event_id for event_id, copies in rows if copies > 1] == []
    assert {event_id for event_id, _ in rows} == set(lake.to_pylist())
