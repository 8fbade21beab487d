"""The fresh loop: a pass only when newer files land, and only while no other writer holds the
warehouse's lock."""

from __future__ import annotations

import threading
import time

import duckdb
import pytest

from streamsim.pipeline.fresh_loop import FreshLoop
from streamsim.settings import Settings

from .conftest import Lake, lake_row, writer_lock_held_elsewhere

pytestmark = pytest.mark.timeout(180)


def published_events(settings: Settings) -> int:
    """Staged events in the serving copy, as a reader sees them."""
    connection = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        row = connection.execute("SELECT COUNT(*) FROM staging.events").fetchone()
    finally:
        connection.close()
    return int(row[0]) if row else 0


def test_a_pass_runs_only_when_newer_files_land_and_publishes_what_they_hold(
    settings: Settings, lake: Lake
) -> None:
    loop = FreshLoop(settings)
    assert loop.run_pass() is None  # an empty lake

    lake.write([lake_row("a"), lake_row("b"), lake_row("b")])
    first = loop.run_pass()
    assert first is not None
    assert first.models.rows["staging.events"] == 2
    assert published_events(settings) == 2

    assert loop.run_pass() is None  # nothing new

    time.sleep(0.01)  # a later modification time than the first file's
    lake.write([lake_row("c")])
    second = loop.run_pass()
    assert second is not None
    assert published_events(settings) == 3


def test_between_passes_another_process_may_write_the_warehouse(
    settings: Settings, lake: Lake
) -> None:
    lake.write([lake_row("a")])
    loop = FreshLoop(settings)
    assert loop.run_pass() is not None

    # DuckDB refuses a second writer while one holds the file: the loop must have let go.
    other = duckdb.connect(str(settings.warehouse_path))
    other.close()


def test_a_pass_waits_while_another_writer_holds_the_lock(settings: Settings, lake: Lake) -> None:
    lake.write([lake_row("a")])
    loop = FreshLoop(settings)
    passes: list[object] = []

    with writer_lock_held_elsewhere(settings):
        worker = threading.Thread(target=lambda: passes.append(loop.run_pass()))
        worker.start()
        time.sleep(1.0)
        assert not settings.serving_path.exists()  # it waits while another writer holds it
    worker.join(timeout=120)

    assert passes and passes[0] is not None
    assert settings.serving_path.exists()


def test_passes_stop_when_told_and_yield_only_passes_that_did_work(
    settings: Settings, lake: Lake
) -> None:
    lake.write([lake_row("a")])
    looks = iter([True, True, True, False])

    done = list(FreshLoop(settings).passes(0.01, lambda: next(looks)))

    assert len(done) == 1
    assert done[0].models.rows["staging.events"] == 1
