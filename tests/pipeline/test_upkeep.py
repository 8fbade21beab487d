"""Lake upkeep: merged partitions keep every row once, readers never see a half-swapped
folder, retention removes only what is old, and staging reads only new files."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from streamsim.lake import events_glob
from streamsim.pipeline.upkeep import UpkeepFacts, compact_lake, expire_lake, upkeep
from streamsim.pipeline.warehouse import open_context, run_models
from streamsim.settings import Settings, load_settings

from .conftest import Lake, lake_row

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def quick(tmp_path: Path) -> Settings:
    """Partitions count as quiet at once, so tests need not wait minutes."""
    return load_settings(state_dir=tmp_path / "state", lake={"compact_quiet_s": 0.001})


def event_rows(settings: Settings) -> Counter[tuple[object, ...]]:
    """Every row of the lake with all its columns, counted, as a glob reader sees them."""
    glob = events_glob(settings.lake_dir)
    return Counter(duckdb.sql(f"SELECT * FROM read_parquet('{glob}')").fetchall())


def files_in(settings: Settings) -> list[Path]:
    return sorted((settings.lake_dir / "events").rglob("*.parquet"))


def test_compaction_keeps_every_row_exactly_once_with_its_coordinates(quick: Settings) -> None:
    lake = Lake(quick)
    for batch in range(5):
        lake.write([lake_row(f"e{batch}-{n}", offset=batch * 10 + n) for n in range(3)])
    lake.write([lake_row("e0-0", offset=0)])  # the sink's own re-read: a copy to keep
    lake.write([lake_row("other-hour")], hour="11")
    before = event_rows(quick)
    time.sleep(0.01)

    facts = UpkeepFacts()
    compact_lake(quick, facts)

    assert event_rows(quick) == before
    assert len(files_in(quick)) == 1 + 1  # one merged hour, and the hour that had one file
    assert (facts.partitions_compacted, facts.files_merged, facts.rows_merged) == (1, 6, 16)


def test_a_merged_file_is_named_after_its_newest_file_so_name_filters_still_find_its_rows(
    quick: Settings,
) -> None:
    lake = Lake(quick)
    written = [lake.write([lake_row(f"e{n}")]) for n in range(3)]
    time.sleep(0.01)

    compact_lake(quick, UpkeepFacts())

    (merged,) = files_in(quick)
    assert merged.name[:15] == max(written).name[:15]


def test_a_merged_file_keeps_the_newest_modification_time_so_runs_do_not_take_it_as_new(
    quick: Settings,
) -> None:
    lake = Lake(quick)
    written = [lake.write([lake_row(f"e{n}")]) for n in range(3)]
    for age_s, path in zip((300, 200, 100), written, strict=True):
        moment = time.time() - age_s
        os.utime(path, (moment, moment))

    compact_lake(quick, UpkeepFacts())

    (merged,) = files_in(quick)
    assert merged.stat().st_mtime == pytest.approx(time.time() - 100, abs=5)


def test_a_reader_listing_the_lake_during_compaction_sees_each_row_once(quick: Settings) -> None:
    lake = Lake(quick)
    for hour in ("08", "09", "10"):
        for batch in range(30):
            lake.write([lake_row(f"{hour}-{batch}-{n}", offset=n) for n in range(20)], hour=hour)
    expected = sum(event_rows(quick).values())
    time.sleep(0.01)
    counts: list[int] = []
    done = threading.Event()

    def read_until_done() -> None:
        connection = duckdb.connect()
        while not done.is_set():
            glob = events_glob(quick.lake_dir)
            try:
                row = connection.execute(f"SELECT COUNT(*) FROM read_parquet('{glob}')").fetchone()
            except duckdb.IOException:
                continue  # a file listed just before its folder moved: an error, never a count
            counts.append(row[0] if row else -1)
        connection.close()

    reader = threading.Thread(target=read_until_done)
    reader.start()
    try:
        compact_lake(quick, UpkeepFacts())
        time.sleep(0.05)
    finally:
        done.set()
        reader.join()

    assert counts and set(counts) == {expected}
    assert len(files_in(quick)) == 3


def test_a_partition_that_is_still_receiving_files_is_left_alone(settings: Settings) -> None:
    lake = Lake(settings)
    lake.write([lake_row("a")])
    lake.write([lake_row("b")])

    facts = UpkeepFacts()
    compact_lake(settings, facts)  # the default quiet time is minutes

    assert facts.partitions_compacted == 0 and len(files_in(settings)) == 2


def test_retention_removes_only_partitions_that_ended_before_the_horizon(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "state", lake={"retention_hours": 2})
    lake = Lake(settings)
    for hour in ("06", "07", "08", "09", "10"):
        lake.write([lake_row(f"h{hour}")], hour=hour)
    quarantine = settings.lake_dir / "quarantine"
    for day in ("2026-12-03", "2026-12-04", "9999-12-31"):
        (quarantine / f"ingest_date={day}").mkdir(parents=True)
        (quarantine / f"ingest_date={day}" / "x.parquet").write_bytes(b"")
    now = datetime(2026, 12, 4, 10, 30, tzinfo=UTC).timestamp()

    facts = UpkeepFacts()
    expire_lake(settings, facts, now=now)

    # 10:30 minus 2 hours is 08:30: hours ending by then go, 08:00-09:00 still overlaps.
    assert sorted(facts.partitions_expired) == [
        "events/ingest_date=2026-12-04/ingest_hour=06",
        "events/ingest_date=2026-12-04/ingest_hour=07",
        "quarantine/ingest_date=2026-12-03",
    ]
    hours = sorted(p.parent.name for p in files_in(settings))
    assert hours == ["ingest_hour=08", "ingest_hour=09", "ingest_hour=10"]
    assert sorted(p.name for p in quarantine.iterdir()) == [
        "ingest_date=2026-12-04",
        "ingest_date=9999-12-31",
    ]


def test_retention_is_site_hours_so_a_faster_run_keeps_fewer_real_hours(tmp_path: Path) -> None:
    real_now = datetime(2026, 12, 4, 10, 30, tzinfo=UTC).timestamp()
    settings = load_settings(
        state_dir=tmp_path / "state",
        speed=10.0,
        lake={"retention_hours": 5},  # half an hour of real time at speed 10
    )
    lake = Lake(settings)
    lake.write([lake_row("old")], hour="09")  # arrived 09:00-10:00, before 10:00 (the horizon)
    lake.write([lake_row("kept")], hour="10")
    quarantine = settings.lake_dir / "quarantine" / "ingest_date=2026-12-03"
    quarantine.mkdir(parents=True)
    (quarantine / "x.parquet").write_bytes(b"")

    expire_lake(settings, UpkeepFacts(), now=real_now)

    assert [p.parent.name for p in files_in(settings)] == ["ingest_hour=10"]
    assert not quarantine.exists()


def test_event_hour_folders_of_the_old_layout_still_expire(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "state", lake={"retention_hours": 2})
    legacy = settings.lake_dir / "events" / "event_date=2026-12-04" / "event_hour=07"
    legacy.mkdir(parents=True)
    (legacy / "x.parquet").write_bytes(b"")
    now = datetime(2026, 12, 4, 10, 30, tzinfo=UTC).timestamp()

    facts = UpkeepFacts()
    expire_lake(settings, facts, now=now)

    assert facts.partitions_expired == ["events/event_date=2026-12-04/event_hour=07"]
    assert not legacy.exists()


def test_upkeep_leaves_nothing_behind_in_its_work_folder(quick: Settings) -> None:
    lake = Lake(quick)
    lake.write([lake_row("a")])
    lake.write([lake_row("b")])
    time.sleep(0.01)

    upkeep(quick)

    assert not any((quick.lake_dir / ".upkeep").iterdir())


def staging_files_read(settings: Settings) -> int:
    """How many lake files the last SQLMesh run's staging query opened, from DuckDB's profile."""
    profile = settings.state / "profile.json"
    with open_context(settings) as context:
        adapter = context.engine_adapter
        snapshot = context.get_snapshot("staging.events")
        assert snapshot is not None
        rendered = context.render("staging.events", start=_hour_start(), end=datetime.now(UTC))
        adapter.execute("PRAGMA enable_profiling='json'")
        adapter.execute(f"PRAGMA profiling_output='{profile}'")
        adapter.fetchall(rendered.sql(dialect="duckdb"))
        adapter.execute("PRAGMA disable_profiling")
    return _files_read(json.loads(profile.read_text()))


def _hour_start() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _files_read(node: dict[str, object]) -> int:
    info = node.get("extra_info")
    total = 0
    if isinstance(info, dict) and "Total Files Read" in info:
        total += int(info["Total Files Read"])
    children = node.get("children")
    for child in children if isinstance(children, list) else []:
        total += _files_read(child)
    return total


@pytest.mark.slow
def test_an_incremental_run_reads_only_files_written_since_its_window_began(
    settings: Settings,
) -> None:
    lake = Lake(settings)
    old = datetime.now(UTC) - timedelta(hours=3)
    for number in range(20):
        path = lake.write([lake_row(f"old{number}", ingested_at=old)])
        os.rename(path, path.with_name(f"{old:%Y%m%dT%H%M%S}000Z-{number:032x}.parquet"))
    run_models(settings)

    for number in range(3):
        lake.write([lake_row(f"new{number}")])

    assert staging_files_read(settings) == 3
    assert run_models(settings).rows["staging.events"] == 23
