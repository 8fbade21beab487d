"""The warehouse's numbers against the simulators' own record of a seeded run.

The simulators keep a ledger of what they did (streamsim.users.ledger, ServerGroup.ledger),
taken where they act rather than from what they emit; `streamsim up` writes it to
state/runs/<run_id>/ledger.json. Compared here, for the run's sessions and plays:

- sessions: the set of session ids a user opened the site for (ledger) equals the set of
  core.sessions rows of the run;
- plays: per session, the number of plays (first frame shown; restarts not counted) in the
  ledger equals the core.video_views rows with started;
- watch time: each play is matched by (session, its place in the session's plays ordered by
  the first frame); the seconds core.video_views.watch_time_s computes from positions differ
  from the seconds the user spent playing by at most 10 s;
- server counts over time: at the start of every minute in core.server_utilisation the
  servers_alive equals the servers the group's ledger has alive then (started_at <= t <
  stopped_at), and core.servers has each server's start and stop at the same millisecond.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from streamsim.bench.quality import run_stack
from streamsim.settings import load_settings

from .test_up import stack_env

RUN_SECONDS = 100
SPEED = 10.0
WATCH_TIME_TOLERANCE_S = 10.0

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


@dataclass
class SeededRun:
    ledger: dict[str, list[dict[str, Any]]]
    warehouse: Path
    run_id: str


@pytest.fixture(scope="module")
def seeded_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededRun]:
    state = tmp_path_factory.mktemp("ledger") / "state"
    env, _ = stack_env(state)
    run_stack(state, env, RUN_SECONDS, SPEED)  # raises with up's last words if it failed
    settings = load_settings(state_dir=state)
    [ledger_path] = (settings.state / "runs").glob("*/ledger.json")  # one run, named by up
    run_id = ledger_path.parent.name
    yield SeededRun(json.loads(ledger_path.read_text()), settings.serving_path, run_id)


def rows(run: SeededRun, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(run.warehouse), read_only=True) as db:
        return db.execute(sql, [run.run_id]).fetchall()


def at(text: str) -> datetime:
    """A ledger time (ISO 8601 with Z) as the naive UTC the warehouse holds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def test_the_sessions_in_the_warehouse_are_the_sessions_the_users_opened(
    seeded_run: SeededRun,
) -> None:
    ledger = {s["session_id"] for s in seeded_run.ledger["sessions"]}
    modelled = rows(seeded_run, "SELECT session_id FROM core.sessions WHERE run_id = ?")

    assert len(ledger) > 20
    assert sorted(session for (session,) in modelled) == sorted(ledger)


def test_each_session_has_as_many_plays_as_its_user_started(seeded_run: SeededRun) -> None:
    ledger = {s["session_id"]: len(s["plays"]) for s in seeded_run.ledger["sessions"]}
    modelled = dict(
        rows(
            seeded_run,
            "SELECT session_id, plays FROM core.sessions WHERE run_id = ?",
        )
    )

    assert sum(ledger.values()) > 20
    assert modelled == ledger


def test_each_play_has_the_watch_time_its_user_played_within_ten_seconds(
    seeded_run: SeededRun,
) -> None:
    ledger = {
        (s["session_id"], number): play["watched_s"]
        for s in seeded_run.ledger["sessions"]
        for number, play in enumerate(sorted(s["plays"], key=lambda p: p["started_at"]), 1)
    }
    modelled = {
        (session, number): watched
        for session, number, watched in rows(
            seeded_run,
            """
            SELECT session_id, ROW_NUMBER() OVER (PARTITION BY session_id ORDER BY started_at),
                   watch_time_s
            FROM core.video_views WHERE run_id = ? AND started
            """,
        )
    }

    assert modelled.keys() == ledger.keys()
    gaps = {play: abs(modelled[play] - ledger[play]) for play in ledger}
    worst = max(gaps.values())
    assert worst <= WATCH_TIME_TOLERANCE_S, sorted(gaps.items(), key=lambda kv: -kv[1])[:5]
    assert sum(ledger.values()) > 600  # ten minutes of site-time play, at least


def test_the_servers_alive_each_minute_are_those_the_group_ran(seeded_run: SeededRun) -> None:
    lives = [
        (at(s["started_at"]), at(s["stopped_at"]) if s["stopped_at"] else None)
        for s in seeded_run.ledger["servers"]
    ]
    minutes = rows(
        seeded_run,
        "SELECT minute, servers_alive FROM core.server_utilisation WHERE run_id = ? ORDER BY 1",
    )

    def alive(moment: datetime) -> int:
        return sum(1 for start, stop in lives if start <= moment and not (stop and stop <= moment))

    assert len(minutes) >= 10
    assert [(m, n) for m, n in minutes] == [(m, alive(m)) for m, _ in minutes]


def test_each_server_starts_and_stops_at_the_millisecond_the_group_recorded(
    seeded_run: SeededRun,
) -> None:
    ledger = {
        s["server_id"]: (at(s["started_at"]), at(s["stopped_at"]) if s["stopped_at"] else None)
        for s in seeded_run.ledger["servers"]
    }
    modelled = {
        server: (started, stopped)
        for server, started, stopped in rows(
            seeded_run,
            "SELECT server_id, started_at, stopped_at FROM core.servers WHERE run_id = ?",
        )
    }

    assert len(ledger) >= 1
    assert modelled == ledger
