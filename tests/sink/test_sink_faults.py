"""Faulty users against a real broker: every message accounted for, the truth landed apart."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sink_support import SinkSettingsFactory, read_lake, sink_thread, total_lag, wait_until

from streamsim.bus import Emitter
from streamsim.events import EventType, Source, new_event
from streamsim.events.topics import TRUTH_TOPIC, USER_TOPIC
from streamsim.lake import MISSING_EVENT_TYPE, TRUTH_TEXT_FIELDS, UNREADABLE
from streamsim.stack.summary import summarise
from streamsim.users.catalogue import Catalogue
from streamsim.users.faults import FaultInjector, FaultKind, FaultOutlet

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CATALOGUE = Catalogue()
SESSIONS = 60


def session_events(run_id: str, number: int) -> list[dict[str, Any]]:
    """A short session with every kind of user event, as a clean client makes it."""
    session_id, start = str(uuid.uuid4()), time.time() - 3600 + number
    video = CATALOGUE.videos[number % 50]
    at = {"video_id": video.video_id}

    def event(kind: EventType, second: float, **fields: Any) -> dict[str, Any]:
        return new_event(
            kind,
            Source.USER,
            site_time=start + second,
            run_id=run_id,
            user_id=f"u-{number}",
            session_id=session_id,
            **fields,
        )

    traits = {"country": "US", "device": "mobile", "browser": "chrome", "connection": "fibre"}
    stream = {"stream_id": f"st-{number}"}
    return [
        event(EventType.SESSION_STARTED, 0, **traits),
        event(EventType.PAGE_VIEWED, 1, page="home", page_number=1, category=None),
        event(EventType.VIDEO_OPENED, 5, **at, category=video.category, via="open_video"),
        event(
            EventType.PLAYBACK_STARTED,
            6,
            **at,
            position_s=0.0,
            server_id="s-1",
            **stream,
            video_start_time_ms=400,
        ),
        *(
            event(EventType.HEARTBEAT, 6 + 10 * n, **at, position_s=10.0 * n, **stream)
            for n in (1, 2)
        ),
        event(EventType.PLAYBACK_PAUSED, 28, **at, position_s=22.0),
        event(EventType.PLAYBACK_RESUMED, 40, **at, position_s=22.0),
        event(EventType.PLAYBACK_SEEKED, 45, **at, from_s=27.0, to_s=60.0, direction="forward"),
        event(EventType.HEARTBEAT, 55, **at, position_s=70.0, **stream),
        event(EventType.VIDEO_SKIPPED, 57, **at, position_s=72.0, next="home"),
        event(EventType.SESSION_ENDED, 60, videos_watched=1),
    ]


def send_faulty_sessions(bootstrap: str, run_id: str) -> tuple[Emitter, Emitter]:
    """Every message of every session faulty (f = 1), sent as a user replica sends them."""
    users, truth = Emitter(bootstrap, Source.USER), Emitter(bootstrap, TRUTH_TOPIC)

    def record(fault: dict[str, Any]) -> None:
        truth.emit_bytes(orjson.dumps(fault), str(fault["session_id"]).encode(), fault["kind"])

    for number in range(SESSIONS):
        injector = FaultInjector(
            seed=number,
            error_factor=1.0,
            weights={},
            catalogue=CATALOGUE,
            emit=users.emit,
            outlet=FaultOutlet(users.emit_bytes, record),
            now=time.time,
        )
        for event in session_events(run_id, number):
            injector.send(event)
        injector.flush()
    users.close()
    truth.close()
    return users, truth


def test_at_error_factor_one_every_message_lands_or_is_quarantined_and_the_truth_lands_apart(
    sink_settings: SinkSettingsFactory,
) -> None:
    settings = sink_settings(batch_max_seconds=0.5)
    run_id, run_started = f"run-{uuid.uuid4()}", datetime.now(UTC)
    users, truth = send_faulty_sessions(settings.kafka.bootstrap, run_id)
    bad_truth = Emitter(settings.kafka.bootstrap, TRUTH_TOPIC)
    bad_truth.emit_bytes(f"not a record {run_id}".encode(), run_id.encode(), "garbage")
    bad_truth.close()
    emitted = Counter(users.counts()["emitted"])
    injected = Counter(truth.counts()["emitted"])
    assert not users.counts()["failed"] and not truth.counts()["failed"]

    with sink_thread(settings):
        wait_until(lambda: total_lag(settings) == 0, 120, "the sink to catch up")

    events = read_lake(settings.lake_dir, "events").to_pylist()
    ours = [row for row in events if row["run_id"] == run_id]
    landed = Counter(row["event_type"] or MISSING_EVENT_TYPE for row in ours)
    records = [
        r for r in read_lake(settings.lake_dir, "truth").to_pylist() if r["run_id"] == run_id
    ]
    keys = {str(record["session_id"]) for record in records}  # unreadable bytes keep their key
    # The broker is shared: other tests' messages (random keys and bytes) land here too.
    quarantine = read_lake(settings.lake_dir, "quarantine").to_pylist()
    unreadable = [
        row
        for row in quarantine
        if row["topic"] == USER_TOPIC.name
        and (row["kafka_key"] or b"").decode(errors="replace") in keys
    ]
    assert landed + Counter({UNREADABLE: len(unreadable)}) == emitted
    assert len(ours) == len({(r["kafka_partition"], r["kafka_offset"]) for r in ours})
    assert all(row["topic"] == USER_TOPIC.name for row in ours)

    assert Counter(r["kind"] for r in records) == injected
    assert {r["kind"] for r in records} == set(FaultKind)
    assert set(TRUTH_TEXT_FIELDS) <= set(records[0])
    assert not any(row["topic"] == TRUTH_TOPIC.name for row in events)
    assert [r["reason"] for r in quarantine if r["kafka_key"] == run_id.encode()] == ["not_json"]

    summary = summarise(
        settings.model_copy(update={"run_id": run_id}), emitted, run_started, injected
    )
    assert {t: n for t, n in summary.lost.items() if t != UNREADABLE} == dict.fromkeys(
        set(summary.lost) - {UNREADABLE}, 0
    )
    assert summary.truth_landed == dict(injected) and summary.truth_lost_total == 0
    assert summary.truth_unreadable >= 1
