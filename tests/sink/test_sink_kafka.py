"""The sink against a real broker: nothing produced goes missing, garbage included."""

from __future__ import annotations

import time
import uuid
from datetime import UTC

import pytest
from sink_support import (
    SinkSettingsFactory,
    produce_events,
    produce_garbage,
    read_lake,
    sink_thread,
    total_lag,
    wait_until,
)

from streamsim.sink import consumer_lag, read_status

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_every_event_and_every_garbage_message_lands_and_lag_reaches_zero(
    sink_settings: SinkSettingsFactory,
) -> None:
    settings = sink_settings(batch_max_events=700, batch_max_seconds=0.5)
    bootstrap, run_id = settings.kafka.bootstrap, f"run-{uuid.uuid4()}"
    sent = produce_events(bootstrap, run_id, 3000, spacing_s=7.0)
    garbage = produce_garbage(bootstrap, run_id)
    assert total_lag(settings) >= len(sent) + len(garbage)

    with sink_thread(settings) as reports:
        wait_until(lambda: total_lag(settings) == 0, 120, "the sink to catch up")

    events = read_lake(settings.lake_dir, "events").to_pylist()
    ours = [row for row in events if row["run_id"] == run_id]
    assert {row["event_id"]: row["body"].encode() for row in ours} == sent
    assert len(ours) == len(sent), "a cleanly run sink wrote an event twice"
    for row in ours:
        arrived = row["ingested_at"].astimezone(UTC)
        assert (row["ingest_date"], row["ingest_hour"]) == (
            arrived.strftime("%Y-%m-%d"),
            arrived.hour,
        )

    quarantined = read_lake(settings.lake_dir, "quarantine").to_pylist()
    # The broker is shared: another test's messages may be empty (no bytes at all).
    landed = {
        row["raw"]: row["reason"] for row in quarantined if run_id.encode() in (row["raw"] or b"")
    }
    assert landed == garbage

    status = read_status(settings)
    assert status is not None
    assert status["state"] == "stopped"
    assert status["messages_read"] == reports[0].messages_read >= len(sent) + len(garbage)
    assert status["quarantined"]["not_object"] >= 2
    assert status["events_landed"]["heartbeat"] >= len(sent) // 3
    assert consumer_lag(settings) == dict.fromkeys(consumer_lag(settings), 0)


def test_a_sink_restarted_after_a_clean_stop_reads_nothing_twice(
    sink_settings: SinkSettingsFactory,
) -> None:
    settings = sink_settings(batch_max_seconds=0.5)
    produce_events(settings.kafka.bootstrap, f"run-{uuid.uuid4()}", 300)
    with sink_thread(settings):
        wait_until(lambda: total_lag(settings) == 0, 120, "the sink to catch up")

    with sink_thread(settings) as again:
        time.sleep(3)

    assert again[0].messages_read == 0
    assert again[0].files_written == 0


def test_a_sink_told_to_stop_while_idle_stops_within_seconds(
    sink_settings: SinkSettingsFactory,
) -> None:
    settings = sink_settings()
    with sink_thread(settings):
        wait_until(lambda: total_lag(settings) == 0, 120, "the sink to catch up")
        told = time.monotonic()
    assert time.monotonic() - told < 10
