"""The whole path on real parts: `streamsim up` with Kafka, Ray, the sink and Dagster."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pyarrow.parquet as pq
import pytest

from streamsim.events import ORCHESTRATOR_EVENT_TYPES, SERVER_EVENT_TYPES, USER_EVENT_TYPES
from streamsim.lake import events_glob
from streamsim.pipeline.definitions import materialize_all
from streamsim.settings import Settings, load_settings
from streamsim.stack.isolated import isolated_env, stack_ports

BIN = Path(sys.executable).parent
# Long enough for the first pipeline runs on a busy 2-core machine (Dagster starts a process
# per run), short enough for the suite; speed 10 keeps the event rate what one core handles.
RUN_SECONDS = 100
SPEED = 10.0

EXPECTED_TYPES = (USER_EVENT_TYPES | SERVER_EVENT_TYPES | ORCHESTRATOR_EVENT_TYPES) - {
    # Only when no server has room, or a start outlasts a viewer's patience: a healthy
    # short run may have none.
    "playback_abandoned",
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


@dataclass
class Run:
    state: Path
    env: dict[str, str]
    summary: dict[str, Any]
    statuses: list[dict[str, Any]]
    counts_seen: list[int]
    ports: list[int]
    stdout: str


def stack_env(state: Path) -> tuple[dict[str, str], list[int]]:
    env = isolated_env(
        state,
        {
            "ORCHESTRATOR__MAX_RATE": 3,
            "ORCHESTRATOR__PERIOD_S": 600,
            "USERS__SEED": 11,
            # The autoscaler would follow this wave to 7-8 servers; 4 keeps the run's load what
            # the data path needs on 2 shared cores (the group's own test covers its scaling).
            "SERVERS__MAX_SERVERS": 4,
            # Dashboards are not what this run measures; Superset would only take a core.
            "BI__ENABLED": "false",
        },
    )
    return env, stack_ports(env)


def streamsim(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "streamsim"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def watch_while_running(up: subprocess.Popen[str], env: dict[str, str]) -> tuple[list, list]:
    """Poll `status` and the event count the way a user would, until `up` exits."""
    statuses: list[dict[str, Any]] = []
    counts: list[int] = []
    while up.poll() is None:
        time.sleep(5)
        status = streamsim(env, "status", "--json")
        if status.stdout.strip():
            statuses.append(json.loads(status.stdout))
        count = streamsim(env, "sql", "SELECT count(*) AS n FROM staging.events", "--json")
        if count.returncode == 0:
            counts.append(int(json.loads(count.stdout)[0]["n"]))
    return statuses, counts


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    state = tmp_path_factory.mktemp("e2e") / "state"
    env, ports = stack_env(state)
    summary_file = state.parent / "summary.json"
    up = subprocess.Popen(
        [
            str(BIN / "streamsim"),
            "up",
            "--duration",
            str(RUN_SECONDS),
            "--speed",
            str(SPEED),
            "--summary-json",
            str(summary_file),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        statuses, counts = watch_while_running(up, env)
    finally:
        if up.poll() is None:
            up.kill()
        stdout, _ = up.communicate()
    assert up.returncode == 0, f"streamsim up failed:\n{stdout}"
    summary = json.loads(summary_file.read_text())
    yield Run(state, env, summary, statuses, counts, ports, stdout)


def settings_for(run: Run) -> Settings:
    return load_settings(state_dir=run.state)


def test_the_run_summary_accounts_for_every_emitted_event(run: Run) -> None:
    summary = run.summary
    assert set(summary) == {
        "emitted",
        "landed",
        "duplicates",
        "quarantined",
        "lost",
        "lost_total",
        "notes",
    }
    assert summary["notes"] == []
    assert summary["lost_total"] == 0
    assert sum(summary["emitted"].values()) > 1000
    assert summary["emitted"] == summary["landed"]


def test_every_expected_event_type_reaches_the_warehouse(run: Run) -> None:
    with duckdb.connect(str(settings_for(run).serving_path), read_only=True) as db:
        types = {
            row[0]
            for row in db.execute("SELECT DISTINCT event_type FROM staging.events").fetchall()
        }
    assert set(EXPECTED_TYPES) <= types


def test_every_event_in_the_lake_is_in_the_warehouse_exactly_once(run: Run) -> None:
    settings = settings_for(run)
    lake = pq.read_table(settings.lake_dir / "events", columns=["event_id"]).column("event_id")
    lake_ids = set(lake.to_pylist())
    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        rows = db.execute("SELECT event_id, count(*) FROM staging.events GROUP BY 1").fetchall()
    assert all(copies == 1 for _, copies in rows)
    assert {event_id for event_id, _ in rows} == lake_ids
    assert len(lake_ids) == sum(run.summary["emitted"].values())


def test_the_metric_model_equals_a_count_made_from_the_raw_parquet(run: Run) -> None:
    settings = settings_for(run)
    with duckdb.connect() as raw:
        expected = raw.execute(
            f"""
            SELECT event_type, date_trunc('minute', emitted_at::TIMESTAMPTZ AT TIME ZONE 'UTC'),
                   count(DISTINCT event_id)
            FROM read_parquet('{events_glob(settings.lake_dir)}', hive_partitioning = true)
            GROUP BY ALL
            """
        ).fetchall()
    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        modelled = db.execute(
            "SELECT event_type, minute, sum(events) FROM metrics.events_per_minute GROUP BY 1, 2"
        ).fetchall()
    assert sorted(map(tuple, modelled)) == sorted(map(tuple, expected))


def test_status_shows_every_component_healthy_while_it_runs(run: Run) -> None:
    assert any(status["healthy"] for status in run.statuses), run.statuses[-3:]


def test_the_event_count_grows_while_it_runs(run: Run) -> None:
    assert len(run.counts_seen) >= 2
    assert run.counts_seen[-1] > run.counts_seen[0]


def test_another_pipeline_run_through_dagster_changes_nothing(run: Run) -> None:
    settings = settings_for(run)
    before = counts_by_type(settings)
    outcome = materialize_all(settings)
    assert outcome.success
    assert counts_by_type(settings) == before


def counts_by_type(settings: Settings) -> dict[str, int]:
    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        rows = db.execute("SELECT event_type, count(*) FROM staging.events GROUP BY 1").fetchall()
    return {str(t): int(n) for t, n in rows}


def test_nothing_of_the_run_is_left_running(run: Run) -> None:
    ray_port = run.env["STREAMSIM_RAY__PORT"]
    leftovers = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(run.state) in cmdline or f"port={ray_port}" in cmdline:
            leftovers.append(cmdline)
    assert leftovers == []
    listening = {
        conn.laddr.port
        for conn in psutil.net_connections("tcp")
        if conn.status == psutil.CONN_LISTEN
    }
    assert listening.isdisjoint(run.ports)
