"""Each publication of the serving copy records how fresh the events it added were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from streamsim.pipeline.warehouse import publish_serving_copy, run_models
from streamsim.settings import Settings, load_settings

from .conftest import Lake, lake_row

pytestmark = pytest.mark.timeout(120)


def emitted(seconds_ago: float, now: datetime) -> str:
    return (now - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds")


def recorded(settings: Settings) -> list[tuple[object, ...]]:
    connection = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        return connection.execute(
            "SELECT run_id, events, p50_s, max_s FROM ops.freshness ORDER BY published_at"
        ).fetchall()
    finally:
        connection.close()


@pytest.fixture
def this_run(tmp_path: Path) -> Settings:
    return load_settings(state_dir=tmp_path / "state", run_id="test-run")


def test_a_publication_records_how_long_its_new_events_took_to_become_queryable(
    this_run: Settings,
) -> None:
    lake = Lake(this_run)
    now = datetime.now(UTC)
    lake.write([lake_row(f"a{n}", offset=n, emitted_at=emitted(30 + n, now)) for n in range(3)])
    run_models(this_run)
    first = publish_serving_copy(this_run).freshness

    lake.write([lake_row("b", offset=9, emitted_at=emitted(5, datetime.now(UTC)))])
    run_models(this_run)
    second = publish_serving_copy(this_run).freshness

    assert first.events == 3 and first.p50_s is not None and first.max_s is not None
    assert 31 <= first.p50_s < first.max_s < 60  # 31 s old at least, 32 s the median
    assert second.events == 1 and second.p50_s is not None and 5 <= second.p50_s < 30
    assert [row[:2] for row in recorded(this_run)] == [("test-run", 3), ("test-run", 1)]


def test_events_of_other_runs_and_clock_faults_are_not_counted(
    this_run: Settings,
) -> None:
    lake = Lake(this_run)
    now = datetime.now(UTC)
    other = {**lake_row("other", emitted_at=emitted(3, now)), "run_id": "another-run"}
    skewed = lake_row("skewed", offset=2, emitted_at=emitted(6 * 3600, now))
    lake.write([other, skewed, lake_row("mine", offset=3, emitted_at=emitted(3, now))])
    run_models(this_run)

    freshness = publish_serving_copy(this_run).freshness

    assert freshness.events == 1
    assert recorded(this_run)[0][:2] == ("test-run", 1)
