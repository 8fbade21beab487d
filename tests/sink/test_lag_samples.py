"""Lag samples in the lake: what the sink group owes Kafka, kept over time for dashboards."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sink_support import (
    SinkSettingsFactory,
    produce_events,
    read_lake,
    sink_thread,
    total_lag,
    wait_until,
)

from streamsim.events.topics import TOPICS
from streamsim.lake import CONSUMER_LAG, LAG_SCHEMA, ensure_lag_readable
from streamsim.sink.lag_samples import record_lag, sample_once, write_lag_sample


def test_a_sample_lands_one_row_per_topic_in_its_arrival_hour(tmp_path: Path) -> None:
    sampled_at = datetime(2026, 12, 4, 10, 15, 30, 250_000, tzinfo=UTC)
    lag = {"streamsim.user-events": 7, "streamsim.server-events": 0}

    path = write_lag_sample(tmp_path, "the-group", lag, sampled_at)

    assert path.parent == tmp_path / CONSUMER_LAG / "ingest_date=2026-12-04" / "ingest_hour=10"
    table = pq.read_table(path)
    assert table.schema.equals(LAG_SCHEMA)
    rows = sorted(table.to_pylist(), key=lambda row: row["topic"])
    assert [(row["topic"], row["lag_messages"], row["group_id"]) for row in rows] == [
        ("streamsim.server-events", 0, "the-group"),
        ("streamsim.user-events", 7, "the-group"),
    ]
    assert {row["sampled_at"] for row in rows} == {sampled_at}


def test_the_placeholder_holds_no_rows_and_is_made_once(tmp_path: Path) -> None:
    first = ensure_lag_readable(tmp_path)
    written = first.stat().st_mtime_ns

    again = ensure_lag_readable(tmp_path)

    assert again == first
    assert again.stat().st_mtime_ns == written
    assert pq.read_table(first).num_rows == 0


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_samples_show_the_backlog_then_zero_once_the_sink_caught_up(
    sink_settings: SinkSettingsFactory,
) -> None:
    settings = sink_settings(batch_max_events=500, batch_max_seconds=0.5)
    produce_events(settings.kafka.bootstrap, f"run-{uuid.uuid4()}", 300)
    owed = total_lag(settings)

    assert sample_once(settings) is not None
    before = read_lake(settings.lake_dir, CONSUMER_LAG).to_pylist()
    assert {row["topic"] for row in before} == {topic.name for topic in TOPICS}
    assert sum(row["lag_messages"] for row in before) == owed >= 300

    with sink_thread(settings):
        wait_until(lambda: total_lag(settings) == 0, 120, "the sink to catch up")
    assert sample_once(settings) is not None

    after = read_lake(settings.lake_dir, CONSUMER_LAG).to_pylist()
    newest = max(row["sampled_at"] for row in after)
    assert [row["lag_messages"] for row in after if row["sampled_at"] == newest] == [0] * len(
        TOPICS
    )


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_recorder_samples_at_once_and_stops_when_told(
    sink_settings: SinkSettingsFactory,
) -> None:
    settings = sink_settings(lag_sample_s=0.2)
    stop = threading.Event()
    recorder = threading.Thread(target=record_lag, args=(settings, stop))
    recorder.start()

    wait_until(
        lambda: len(list((settings.lake_dir / CONSUMER_LAG).rglob("*.parquet"))) >= 2,
        60,
        "two lag samples",
    )
    stop.set()
    recorder.join(timeout=30)

    assert not recorder.is_alive()
