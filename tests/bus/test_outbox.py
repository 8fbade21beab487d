"""The outbox: what a killed emitter had not seen settled can be sent again, byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamsim.bus.outbox import Outbox, Unsettled, outbox_counts, unsettled


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    """Closed after the test, as a killed process would leave it: not forgotten."""
    outbox = Outbox(tmp_path / "server-1.outbox")
    yield outbox
    outbox.close(forget=False)


def test_only_the_events_kafka_never_answered_are_unsettled(outbox: Outbox) -> None:
    first = outbox.sent("e1", "stream_heartbeat", b"s1", b'{"event_id":"e1"}')
    outbox.sent("e2", "stream_stopped", b"s2", b'{"event_id":"e2"}')
    third = outbox.sent("e3", "stream_heartbeat", b"s1", b'{"event_id":"e3"}')

    outbox.settled(first)
    outbox.settled(third)

    assert unsettled(outbox.path) == [
        Unsettled("e2", "stream_stopped", b"s2", b'{"event_id":"e2"}')
    ]


def test_any_bytes_come_back_as_they_were_sent(outbox: Outbox) -> None:
    payload = bytes(range(256))

    outbox.sent(None, "unreadable", b"\xff\x00", payload)

    assert unsettled(outbox.path) == [Unsettled(None, "unreadable", b"\xff\x00", payload)]


def test_a_line_torn_by_the_kill_is_skipped(outbox: Outbox) -> None:
    outbox.sent("e1", "server_utilisation", b"k", b"{}")
    with outbox.path.open("ab") as file:
        file.write(b'{"n": 1, "id": "e2", "ty')

    assert [event.event_id for event in unsettled(outbox.path)] == ["e1"]


def test_a_clean_stop_leaves_no_outbox_and_a_missing_one_has_nothing(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.outbox")
    outbox.settled(outbox.sent("e1", "server_started", b"k", b"{}"))

    outbox.close(forget=True)

    assert not outbox.path.exists()
    assert unsettled(outbox.path) == []


def test_a_dead_emitters_counts_are_read_from_its_outbox(outbox: Outbox) -> None:
    outbox.settled(outbox.sent("e1", "stream_heartbeat", b"k", b"{}"))
    outbox.settled(outbox.sent("e2", "stream_heartbeat", b"k", b"{}"), failed=True)
    outbox.sent("e3", "stream_stopped", b"k", b"{}")

    assert outbox_counts(outbox.path) == {
        "emitted": {"stream_heartbeat": 2, "stream_stopped": 1},
        "delivered": {"stream_heartbeat": 1},
        "failed": {"stream_heartbeat": 1},
    }
    assert outbox_counts(outbox.path.with_name("never-started.outbox")) is None
