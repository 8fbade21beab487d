"""Core models on real SQLMesh runs: a session completed by a later file, and re-runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from streamsim.pipeline.expectations import catalogue_rows
from streamsim.pipeline.warehouse import publish_serving_copy, run_models
from streamsim.settings import Settings

from .conftest import Lake, lake_row

SESSION = "SELECT plays, watch_time_s, ended_at IS NOT NULL, length_s FROM core.sessions"
VIEWS = "SELECT video_id, started, outcome, watch_time_s FROM core.video_views"


def query(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    publish_serving_copy(settings)
    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        return db.execute(sql).fetchall()


@pytest.fixture
def at() -> Callable[[int], str]:
    """Times in a minute that ended just before the test: staging counts only events emitted
    near their arrival, so the minute is taken when the test runs, not when it is collected
    (a whole suite can run between the two)."""
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    return lambda second: f"{minute:%Y-%m-%dT%H:%M}:{second:02d}.000Z"


# A video of the catalogue (a view of any other has no video), longer than the play below.
VIDEO = next(row["video_id"] for row in catalogue_rows(None) if float(str(row["duration_s"])) > 20)


@pytest.mark.slow  # three SQLMesh runs: about 40 s alone, longer on a busy machine
@pytest.mark.timeout(300)
def test_a_later_file_completes_the_session_and_a_rerun_changes_nothing(
    settings: Settings, lake: Lake, at: Callable[[int], str]
) -> None:
    lake.write(
        [
            lake_row("e1", event_type="session_started", emitted_at=at(0), offset=1),
            lake_row("e2", event_type="video_opened", emitted_at=at(1), offset=2, video_id=VIDEO),
            lake_row(
                "e3",
                event_type="playback_started",
                emitted_at=at(2),
                offset=3,
                video_id=VIDEO,
                position_s=0.0,
                video_start_time_ms=700,
            ),
            lake_row("e4", emitted_at=at(12), offset=4, video_id=VIDEO, position_s=10.0),
        ]
    )
    run_models(settings)
    assert query(settings, SESSION) == [(1, 10.0, False, None)]

    lake.write(
        [
            lake_row(
                "e5", event_type="video_skipped", emitted_at=at(18), offset=5, position_s=15.5
            ),
            lake_row("e6", event_type="session_ended", emitted_at=at(20), offset=6),
        ]
    )
    run_models(settings)
    completed = (query(settings, SESSION), query(settings, VIEWS))
    assert completed == ([(1, 15.5, True, 20.0)], [(VIDEO, True, "skipped", 15.5)])

    run_models(settings)
    assert (query(settings, SESSION), query(settings, VIEWS)) == completed
