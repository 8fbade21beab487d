"""Each run's window of arrivals begins at the earliest row of the files new since its group
last ran, and what that window leaves out was loaded before."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from streamsim.pipeline.arrivals import MARKS_TABLE
from streamsim.pipeline.project import FRESH_MODELS, QUALITY_MODELS
from streamsim.pipeline.warehouse import open_context, publish_serving_copy, run_models
from streamsim.settings import Settings, load_settings

from .conftest import Lake, lake_row

# Several SQLMesh runs each: about a minute alone, longer on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PER_MINUTE = "SELECT minute, active_users FROM metrics.system_per_minute ORDER BY 1"


def query(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    publish_serving_copy(settings)
    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        return db.execute(sql).fetchall()


def marks(settings: Settings) -> dict[str, object]:
    rows = query(settings, f"SELECT run_group, arrivals_from FROM {MARKS_TABLE} ORDER BY 1")
    return {str(group): start for group, start in rows}


def site_time(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.000Z"


def test_the_next_window_begins_at_the_earliest_row_of_the_new_files(
    settings: Settings, lake: Lake
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    earlier = now - timedelta(minutes=5)
    written = lake.write([lake_row("a", ingested_at=earlier)])
    # Written when its row arrived: well before the run's listing, past the slack.
    os.utime(written, (earlier.timestamp(), earlier.timestamp()))
    run_models(settings, FRESH_MODELS)
    assert marks(settings) == {"fresh": None}  # the first run reads its whole interval

    stamped = now - timedelta(minutes=2)
    lake.write([lake_row("b", ingested_at=stamped), lake_row("c", ingested_at=now)])
    run_models(settings, FRESH_MODELS)

    assert marks(settings) == {"fresh": stamped.replace(tzinfo=None)}
    assert query(settings, "SELECT COUNT(*) FROM staging.events") == [(3,)]


def test_a_late_file_with_rows_from_before_the_last_run_moves_the_window_back(
    settings: Settings, lake: Lake
) -> None:
    now = datetime.now(UTC)
    lake.write([lake_row("on-time", ingested_at=now)])
    run_models(settings, FRESH_MODELS)

    lake.write([lake_row("slow", ingested_at=now - timedelta(minutes=50))])
    run_models(settings, FRESH_MODELS)

    slow = "SELECT COUNT(*) FROM staging.events WHERE event_id = 'slow'"
    assert query(settings, slow) == [(1,)]


def test_a_file_written_in_the_second_its_first_row_arrived_is_read_when_it_opens_the_window(
    settings: Settings, lake: Lake
) -> None:
    # After a quiet spell (nothing new within the slack), the one new file sets the mark at
    # its own first row; its name, a few hundred milliseconds later in the same second, must
    # not read as older than that row.
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    written = lake.write([lake_row("before", ingested_at=long_ago, offset=1)], written=long_ago)
    os.utime(written, (long_ago.timestamp(), long_ago.timestamp()))
    run_models(settings, FRESH_MODELS + QUALITY_MODELS)

    arrived = (datetime.now(UTC) - timedelta(seconds=10)).replace(microsecond=400_000)
    lake.write(
        [lake_row("after", ingested_at=arrived, offset=2)], written=arrived + timedelta(seconds=0.3)
    )
    run_models(settings, FRESH_MODELS + QUALITY_MODELS)

    assert marks(settings)["fresh"] == arrived.replace(tzinfo=None)
    assert query(settings, "SELECT event_id FROM staging.events ORDER BY 1") == [
        ("after",),
        ("before",),
    ]
    assert query(settings, "SELECT COUNT(*) FROM quality.messages") == [(2,)]


def test_a_model_with_no_rows_fills_from_its_interval_start_not_from_the_mark(
    settings: Settings, lake: Lake
) -> None:
    now = datetime.now(UTC)
    lake.write([lake_row("first", ingested_at=now - timedelta(minutes=3))])
    run_models(settings, FRESH_MODELS)
    with open_context(settings, model_tests=False) as context:
        # As a changed model's new table starts: empty, with the group's mark already set.
        table = context.table_name("staging.events", "prod")
        context.engine_adapter.execute(f"DELETE FROM {table}")

    lake.write([lake_row("second", ingested_at=now)])
    run_models(settings, FRESH_MODELS)

    ids = "SELECT event_id FROM staging.events ORDER BY 1"
    assert query(settings, ids) == [("first",), ("second",)]


def test_an_event_after_a_silence_rebuilds_the_minutes_its_session_was_quiet(
    settings: Settings, lake: Lake, tmp_path: Path
) -> None:
    # The session's first events, then one after a silence longer than the session timeout
    # (120 s): it keeps the session active through the minutes between, which a window of
    # arrivals starting at the new event alone would leave as they were.
    opened = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=12)
    lake.write(
        [
            lake_row("s", event_type="session_started", emitted_at=site_time(opened), offset=1),
            lake_row("p", event_type="page_viewed", emitted_at=site_time(opened), offset=2),
        ]
    )
    run_models(settings, FRESH_MODELS)
    back = opened + timedelta(minutes=8, seconds=5)
    lake.write([lake_row("q", event_type="page_viewed", emitted_at=site_time(back), offset=3)])
    run_models(settings, FRESH_MODELS)
    incremental = query(settings, PER_MINUTE)

    whole = load_settings(state_dir=tmp_path / "whole")
    shutil.copytree(settings.lake_dir, whole.lake_dir)
    run_models(whole, FRESH_MODELS)

    assert incremental == query(whole, PER_MINUTE)
    quiet_minute = (opened + timedelta(minutes=5)).replace(tzinfo=None)
    assert (quiet_minute, 1) in incremental
