"""The warehouse built from lake files: typed, deduplicated, counted, and safely published."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow.dataset as ds
import pytest

from sqlmesh import Context
from streamsim.pipeline import warehouse
from streamsim.pipeline.project import FRESH_MODELS, QUALITY_MODELS
from streamsim.pipeline.warehouse import publish_serving_copy, run_models, writer_lock
from streamsim.settings import Settings

from .conftest import Lake, lake_row, writer_lock_held_elsewhere


def query(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    """Read the serving copy the way BI does, which also proves it opens on its own."""
    publish_serving_copy(settings)
    connection = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def independent_counts(settings: Settings) -> Counter[tuple[datetime, str, str]]:
    """Events per minute, type and source counted straight from the Parquet, ids once each."""
    table = ds.dataset(settings.lake_dir / "events", format="parquet").to_table()
    first_seen = {row["event_id"]: row for row in table.to_pylist()}
    counts: Counter[tuple[datetime, str, str]] = Counter()
    for row in first_seen.values():
        emitted = datetime.fromisoformat(row["emitted_at"]).astimezone(UTC).replace(tzinfo=None)
        counts[(emitted.replace(second=0, microsecond=0), row["event_type"], row["source"])] += 1
    return counts


def open_files() -> list[str]:
    paths = []
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            paths.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        except OSError:  # the descriptor listdir itself used is gone already
            continue
    return paths


def test_staging_holds_each_event_id_once_when_the_sink_wrote_it_twice(
    settings: Settings, lake: Lake
) -> None:
    lake.write([lake_row("a", offset=1), lake_row("b", offset=2)])
    lake.write([lake_row("b", offset=2), lake_row("c", offset=3)])

    run_models(settings)

    rows = query(settings, "SELECT event_id, COUNT(*) FROM staging.events GROUP BY 1 ORDER BY 1")
    assert rows == [("a", 1), ("b", 1), ("c", 1)]


def test_a_duplicate_arriving_in_a_later_run_does_not_replace_the_first_copy(
    settings: Settings, lake: Lake
) -> None:
    lake.write([lake_row("a", offset=1)])
    run_models(settings)

    lake.write([lake_row("a", offset=99)])
    run_models(settings)

    assert query(settings, "SELECT event_id, kafka_offset FROM staging.events") == [("a", 1)]


def test_metrics_equal_an_independent_count_of_the_raw_parquet(
    settings: Settings, lake: Lake
) -> None:
    # Emitted a minute before they land: an untimely event would count at its arrival minute.
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    next_minute = minute + timedelta(minutes=1)
    lake.write(
        [
            lake_row("a", emitted_at=f"{minute:%Y-%m-%dT%H:%M}:01.000Z"),
            lake_row("b", emitted_at=f"{minute:%Y-%m-%dT%H:%M}:59.999Z"),
            lake_row(
                "c",
                emitted_at=f"{next_minute:%Y-%m-%dT%H:%M}:00.000Z",
                event_type="playback_paused",
            ),
        ]
    )
    lake.write(
        [
            lake_row("b", emitted_at=f"{minute:%Y-%m-%dT%H:%M}:59.999Z"),
            lake_row(
                "d",
                emitted_at=f"{minute:%Y-%m-%dT%H:%M}:30.000Z",
                source="server",
                event_type="stream_started",
                server_id="srv-1",
            ),
        ]
    )

    run_models(settings)

    rows = query(
        settings, "SELECT minute, event_type, source, events FROM metrics.events_per_minute"
    )
    assert Counter({(m, t, s): n for m, t, s, n in rows}) == independent_counts(settings)


def test_a_file_landing_after_a_run_is_loaded_by_the_next_run(
    settings: Settings, lake: Lake
) -> None:
    lake.write([lake_row("a")])
    run_models(settings)

    lake.write([lake_row("late", event_type="video_ended")])
    facts = run_models(settings)

    assert facts.rows["staging.events"] == 2
    minutes = query(settings, "SELECT event_type, events FROM metrics.events_per_minute ORDER BY 1")
    assert minutes == [("heartbeat", 1), ("video_ended", 1)]


def test_a_file_stamped_before_the_last_run_but_landing_after_it_is_still_loaded(
    settings: Settings, lake: Lake
) -> None:
    lake.write([lake_row("a")])
    run_models(settings)

    # Before the hour SQLMesh reloads on each run, so only the grace period reaches it.
    hour_start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    stamped_earlier = hour_start - timedelta(minutes=1)
    lake.write([lake_row("slow", ingested_at=stamped_earlier)])
    run_models(settings)

    assert query(settings, "SELECT COUNT(*) FROM staging.events WHERE event_id = 'slow'") == [(1,)]


def test_events_without_an_id_are_kept_once_each_and_stay_countable(
    settings: Settings, lake: Lake
) -> None:
    no_id = [lake_row(None, offset=7), lake_row("  ", offset=8)]
    lake.write(no_id)
    lake.write(no_id[:1])  # the same Kafka message delivered again

    run_models(settings)

    assert query(settings, "SELECT COUNT(*) FROM staging.events WHERE event_id IS NULL") == [(2,)]


def test_fields_that_do_not_parse_become_null_instead_of_failing_the_run(
    settings: Settings, lake: Lake
) -> None:
    broken = lake_row("x", emitted_at="soon", position_s="far")
    broken["schema_version"] = "one"
    lake.write([broken, {**lake_row("y", offset=1), "body": "{truncated"}])

    run_models(settings)

    rows = query(
        settings,
        "SELECT event_id, schema_version, emitted_at, position_s, body FROM staging.events "
        "ORDER BY 1",
    )
    assert [row[:4] for row in rows] == [
        ("x", None, None, None),
        ("y", 1, datetime(2026, 12, 4, 10, 0, 5), None),
    ]
    assert rows[1][4] == "{truncated"


def test_common_body_fields_are_extracted(settings: Settings, lake: Lake) -> None:
    lake.write(
        [
            lake_row("p", video_id="v-42", position_s=12.5),
            lake_row(
                "s",
                source="server",
                event_type="stream_stopped",
                server_id="srv-1",
                stream_id="st-9",
                reason="client_left",
            ),
        ]
    )

    run_models(settings)

    rows = query(
        settings,
        "SELECT event_id, video_id, position_s, server_id, stream_id, reason FROM staging.events "
        "ORDER BY 1",
    )
    assert rows == [
        ("p", "v-42", 12.5, None, None, None),
        ("s", None, None, "srv-1", "st-9", "client_left"),
    ]


def test_a_run_over_an_empty_lake_is_skipped_without_creating_a_warehouse(
    settings: Settings,
) -> None:
    facts = run_models(settings)

    assert facts.skipped
    assert not settings.warehouse_path.exists()


def test_no_file_of_the_warehouse_stays_open_after_a_run(settings: Settings, lake: Lake) -> None:
    lake.write([lake_row("a")])

    run_models(settings)

    assert not [path for path in open_files() if path.startswith(str(settings.warehouse_path))]
    writer = "import duckdb, sys; duckdb.connect(sys.argv[1]).close()"
    subprocess.run([sys.executable, "-c", writer, str(settings.warehouse_path)], check=True)


def test_the_serving_copy_is_replaced_whole_while_an_old_reader_keeps_reading(
    settings: Settings, lake: Lake
) -> None:
    lake.write([lake_row("a")])
    run_models(settings)
    publish_serving_copy(settings)
    old_reader = duckdb.connect(str(settings.serving_path), read_only=True)

    lake.write([lake_row("b")])
    run_models(settings)
    publish_serving_copy(settings)

    try:
        assert old_reader.execute("SELECT COUNT(*) FROM staging.events").fetchall() == [(1,)]
    finally:
        old_reader.close()
    assert query(settings, "SELECT COUNT(*) FROM staging.events") == [(2,)]
    assert settings.serving_path.stat().st_mode == settings.warehouse_path.stat().st_mode
    assert (
        sorted(p.name for p in settings.serving_path.parent.iterdir() if p.name.startswith("."))
        == []
    )


@pytest.mark.parametrize("runs", [1, 3])
def test_metrics_are_refreshed_on_every_run(settings: Settings, lake: Lake, runs: int) -> None:
    for number in range(runs):
        lake.write([lake_row(f"e{number}")])
        run_models(settings)

    assert query(settings, "SELECT SUM(events) FROM metrics.events_per_minute") == [(runs,)]


def test_a_fresh_run_loads_new_events_into_the_metrics_and_leaves_quality_to_its_own_run(
    settings: Settings, lake: Lake
) -> None:
    lake.write([lake_row("a", offset=1)])
    run_models(settings)
    lake.write([lake_row("b", offset=2)])

    fresh = run_models(settings, FRESH_MODELS)

    assert set(fresh.rows) == set(FRESH_MODELS) - {"lake.events"}
    assert fresh.rows["staging.events"] == 2
    assert query(settings, "SELECT COUNT(*) FROM quality.messages") == [(1,)]

    quality = run_models(settings, QUALITY_MODELS)

    assert quality.rows["quality.messages"] == 2
    assert query(settings, "SELECT COUNT(*) FROM quality.messages") == [(2,)]


def test_a_run_builds_a_plan_only_when_the_project_changed_since_the_last_one(
    settings: Settings, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    build = Context.plan_builder

    def counted(self: Context, *args: Any, **kwargs: Any) -> Any:
        built.append("plan")
        return build(self, *args, **kwargs)

    monkeypatch.setattr(Context, "plan_builder", counted)
    lake.write([lake_row("a", offset=1)])
    assert run_models(settings, FRESH_MODELS).planned
    lake.write([lake_row("b", offset=2)])
    plans_built = len(built)

    assert not run_models(settings, FRESH_MODELS).planned
    assert len(built) == plans_built

    monkeypatch.setattr(warehouse, "project_fingerprint", lambda context: "edited models")
    assert not run_models(settings, FRESH_MODELS).planned  # nothing to apply, but looked
    assert len(built) == plans_built + 1
    assert query(settings, "SELECT COUNT(*) FROM staging.events") == [(2,)]


def test_the_first_fresh_run_fills_the_metrics_and_the_first_quality_run_the_checks(
    settings: Settings, lake: Lake
) -> None:
    lake.write([lake_row("a", offset=1), lake_row("b", offset=2)])

    run_models(settings, FRESH_MODELS)

    assert query(settings, "SELECT COUNT(*) FROM staging.events") == [(2,)]
    assert query(settings, "SELECT COUNT(*) FROM quality.messages") == [(0,)]

    run_models(settings, QUALITY_MODELS)

    assert query(settings, "SELECT COUNT(*) FROM quality.messages") == [(2,)]


def test_the_writer_lock_goes_with_its_holder_even_when_a_child_it_forked_lives_on(
    settings: Settings,
) -> None:
    acquired = threading.Event()

    def take_the_lock() -> None:
        with writer_lock(settings):
            acquired.set()

    with writer_lock_held_elsewhere(settings, fork_a_child=True) as holder:
        os.kill(holder.pid, signal.SIGKILL)  # the holder only: its child lives on
        holder.wait()
        taker = threading.Thread(target=take_the_lock, daemon=True)
        taker.start()
        assert acquired.wait(timeout=30), "the lock outlived the process that took it"
    taker.join(timeout=30)
