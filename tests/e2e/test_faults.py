"""Parts of a running stack killed with SIGKILL: the stack replaces them and loses nothing.

One run takes every fault, so the suite pays for one stack; each fault begins only once the
one before it has healed, so none hides another. The sink is killed while it reads (its
batch not yet written or committed); the orchestrator while it spawns users; a streaming
server while it serves (the group replaces it, its viewers restart elsewhere); last, the
Kafka broker (the launcher starts it again on its own data). At the end the run summary
must count every event as landed, and the warehouse must hold each one once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from streamsim.lake import events_glob
from streamsim.settings import Settings, load_settings
from streamsim.sink import read_status
from streamsim.stack.record import read_stack_record
from streamsim.stack.up import ledger_file

from .test_up import BIN, SPEED, stack_env

# Room for the four faults and their healing after the sink first reads (the broker's
# restart alone takes up to half a minute on a busy machine).
RUN_SECONDS = 120

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def lake_view(db: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """The lake's events, each once (the test's own state folder holds this run only)."""
    db.execute(
        "CREATE VIEW lake AS SELECT DISTINCT event_id, event_type, session_id, emitted_at, "
        "json_extract_string(body, '$.reason') AS reason, "
        "json_extract_string(body, '$.server_id') AS server_id "
        f"FROM read_parquet('{events_glob(settings.lake_dir)}', hive_partitioning = true)"
    )


@dataclass
class FaultyRun:
    settings: Settings
    summary: dict[str, Any]
    stdout: str
    killed: dict[str, int]
    lost_server: str


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


def servers(settings: Settings) -> list[dict[str, Any]]:
    """The router's own list (it runs on loopback, at the address the stack record gives)."""
    router = (read_stack_record(settings) or {})["urls"]["router"]
    with urllib.request.urlopen(router, timeout=10) as answer:
        return list(json.loads(answer.read())["servers"])


def kill_a_server_and_see_it_replaced(settings: Settings, up: subprocess.Popen[str]) -> str:
    """SIGKILL the busiest server's process; the group starts another in its place."""
    before = servers(settings)
    victim = max(before, key=lambda server: server["streams"])
    os.kill(int(victim["pid"]), signal.SIGKILL)

    def replaced() -> bool:
        try:
            now = {server["server_id"] for server in servers(settings)}
        except OSError:  # a busy router may miss one look
            return False
        return victim["server_id"] not in now and len(now) >= len(before)

    wait_for(replaced, up, f"{victim['server_id']} to be replaced")
    return str(victim["server_id"])


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
        lost_server = kill_a_server_and_see_it_replaced(settings, up)
        killed["kafka"] = kill_and_see_restarted(settings, "kafka", up)
        stdout, _ = up.communicate(timeout=600)
    finally:
        if up.poll() is None:
            up.kill()
            up.communicate()
    assert up.returncode == 0, f"streamsim up failed:\n{stdout}"
    summary = json.loads(summary_file.read_text())
    said = re.search(r"streamsim run (\S+):", stdout)
    assert said is not None, stdout
    settings = load_settings(state_dir=state, run_id=said.group(1))
    yield FaultyRun(settings, summary, stdout, killed, lost_server)


def test_the_launcher_says_it_started_each_killed_part_again(faulty_run: FaultyRun) -> None:
    for part in faulty_run.killed:
        assert f"{part} had stopped; started it again" in faulty_run.stdout


def test_after_every_fault_the_run_summary_counts_every_event_as_landed(
    faulty_run: FaultyRun,
) -> None:
    summary = faulty_run.summary
    assert sum(summary["emitted"].values()) > 0
    assert {t: n for t, n in summary["lost"].items() if n != 0} == {}, summary
    assert summary["lost_total"] == 0, summary


def test_the_killed_server_is_recorded_lost_and_its_streams_stopped_for_it(
    faulty_run: FaultyRun,
) -> None:
    ledger = json.loads(ledger_file(faulty_run.settings).read_text())
    assert {s["server_id"] for s in ledger["servers"] if s["lost"]} == {faulty_run.lost_server}
    with duckdb.connect() as db:
        lake_view(db, faulty_run.settings)
        said_for_it = db.execute(
            "SELECT DISTINCT event_type FROM lake WHERE reason = 'server_lost' AND server_id = ?",
            [faulty_run.lost_server],
        ).fetchall()
    assert {"server_stopped"} <= {event_type for (event_type,) in said_for_it}


def test_every_viewer_of_the_killed_server_restarts_or_gives_up(faulty_run: FaultyRun) -> None:
    """Each session that lost its stream then starts playing again, abandons or ends.

    The group reports the streams it last saw on the server: a viewer who had already left
    (the stop went to the server, which died before the group's next look) ended before.
    """
    with duckdb.connect() as db:
        lake_view(db, faulty_run.settings)
        left_hanging = db.execute(
            "WITH lost AS (SELECT session_id, min(emitted_at) AS at FROM lake "
            "WHERE event_type = 'stream_stopped' AND reason = 'server_lost' GROUP BY 1) "
            "SELECT lost.session_id FROM lost WHERE NOT EXISTS (SELECT 1 FROM lake "
            "WHERE lake.session_id = lost.session_id AND (event_type = 'session_ended' OR "
            "lake.emitted_at > lost.at AND event_type IN ('playback_started', "
            "'playback_abandoned')))"
        ).fetchall()
    assert left_hanging == []


def test_after_every_fault_the_warehouse_holds_every_event_of_the_lake_once(
    faulty_run: FaultyRun,
) -> None:
    settings = faulty_run.settings
    lake = pq.read_table(settings.lake_dir / "events", columns=["event_id"]).column("event_id")
    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        rows = db.execute("SELECT event_id, count(*) FROM staging.events GROUP BY 1").fetchall()
    assert [event_id for event_id, copies in rows if copies > 1] == []
    assert {event_id for event_id, _ in rows} == set(lake.to_pylist())
