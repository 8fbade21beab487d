"""At error factor 0.3 the product tables count only values the expectations accept.

Broken users send traits outside the accepted sets, videos outside the catalogue, seeks that
never arrive and session ends that cannot be read (docs/faults.md). The warehouse keeps their
events for the quality checks, but the product numbers must stay within what really happened,
as the simulators' ledger records it (docs/metrics.md, "Values the expectations reject"):

- no session lasts longer than its run, and none is active after the run;
- no session has more watch time than its length (or, when its end was lost, than the time
  until it closed);
- active users at every minute are never more than the sessions the ledger has open then;
- no country or device outside the accepted sets, and no video outside the catalogue in the
  video tables.

The exact equality of the numbers with the ledger is tested at factor 0
(test_metrics_match_the_ledger.py): here broken starts leave sessions out, so only bounds hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from streamsim.bench.quality import run_stack
from streamsim.settings import load_settings

from .test_up import stack_env

RUN_SECONDS = 60
SPEED = 10.0
ERROR_FACTOR = 0.3
# core.sessions' session_timeout_s: a session whose end was lost stays active this long.
SESSION_TIMEOUT = timedelta(seconds=120)
# Positions and times are rounded to the millisecond on the wire.
ROUNDING_S = 0.01

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


@dataclass
class BrokenRun:
    lives: list[tuple[datetime, datetime | None]]
    warehouse: Path
    run_id: str

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.warehouse), read_only=True) as db:
            return db.execute(sql, [self.run_id] if "?" in sql else []).fetchall()

    @property
    def first_start(self) -> datetime:
        return min(start for start, _ in self.lives)

    @property
    def last_end(self) -> datetime:
        return max(end for _, end in self.lives if end is not None)


def at(text: str) -> datetime:
    """A ledger time (ISO 8601 with Z) as the naive UTC the warehouse holds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokenRun]:
    state = tmp_path_factory.mktemp("broken") / "state"
    env, _ = stack_env(state)
    env["STREAMSIM_ORCHESTRATOR__ERROR_FACTOR"] = str(ERROR_FACTOR)
    run_stack(state, env, RUN_SECONDS, SPEED)  # raises with up's last words if it failed
    settings = load_settings(state_dir=state)
    [ledger_path] = (settings.state / "runs").glob("*/ledger.json")  # one run, named by up
    sessions = json.loads(ledger_path.read_text())["sessions"]
    lives = [(at(s["started_at"]), at(s["ended_at"]) if s["ended_at"] else None) for s in sessions]
    yield BrokenRun(lives, settings.serving_path, ledger_path.parent.name)


def test_no_session_lasts_longer_than_its_run(broken_run: BrokenRun) -> None:
    run_length_s = (broken_run.last_end - broken_run.first_start).total_seconds()
    [(sessions, longest, latest_close)] = broken_run.rows(
        "SELECT COUNT(*), MAX(length_s), MAX(closed_at) FROM core.sessions WHERE run_id = ?"
    )

    assert sessions > 20
    assert longest <= run_length_s
    assert latest_close <= broken_run.last_end + SESSION_TIMEOUT


def test_no_session_has_more_watch_time_than_it_lasted(broken_run: BrokenRun) -> None:
    [(checked, too_long)] = broken_run.rows(
        f"""
        SELECT COUNT(*), COUNT(*) FILTER (
          WHERE watch_time_s > COALESCE(length_s, EPOCH(closed_at) - EPOCH(started_at))
            + {ROUNDING_S}
        )
        FROM core.sessions WHERE run_id = ? AND watch_time_s > 0
        """
    )

    assert checked > 20
    assert too_long == 0


def test_active_users_are_never_more_than_the_sessions_users_had_open(
    broken_run: BrokenRun,
) -> None:
    minutes = broken_run.rows(
        "SELECT minute, active_users FROM metrics.system_per_minute WHERE run_id = ? ORDER BY 1"
    )

    def open_at(moment: datetime) -> int:
        lives = broken_run.lives
        return sum(1 for start, end in lives if start <= moment and (end is None or end > moment))

    assert len(minutes) >= 8
    above = [(minute, active, open_at(minute)) for minute, active in minutes]
    assert [row for row in above if row[1] > row[2]] == []
    assert max(active for _, active in minutes) > 0


def test_traits_outside_the_accepted_sets_are_unknown(broken_run: BrokenRun) -> None:
    outside = broken_run.rows(
        """
        SELECT s.session_id, t.field, CASE t.field WHEN 'country' THEN s.country ELSE s.device END
        FROM core.sessions AS s
        CROSS JOIN reference.event_fields AS t
        WHERE s.run_id = ? AND t.event_type = 'session_started'
          AND t.field IN ('country', 'device')
          AND NOT LIST_CONTAINS(
            LIST_APPEND(t.accepted, 'unknown'),
            CASE t.field WHEN 'country' THEN s.country ELSE s.device END
          )
        """
    )
    [(unknown,)] = broken_run.rows(
        "SELECT COUNT(*) FROM core.sessions "
        "WHERE run_id = ? AND 'unknown' IN (country, device, browser, connection)"
    )

    assert outside == []
    assert unknown > 0, "no broken trait in a run at factor 0.3: nothing was tested"


def test_no_video_outside_the_catalogue_is_ranked(broken_run: BrokenRun) -> None:
    [(ranked_unknown,)] = broken_run.rows(
        "SELECT COUNT(*) FROM metrics.top_videos ANTI JOIN reference.videos USING (video_id)"
    )
    [(sent_unknown,)] = broken_run.rows(
        "SELECT COUNT(*) FROM staging.events "
        "WHERE run_id = ? AND envelope_valid AND video_id NOT IN "
        "(SELECT video_id FROM reference.videos)"
    )

    assert sent_unknown > 0, "no unknown video in a run at factor 0.3: nothing was tested"
    assert ranked_unknown == 0
