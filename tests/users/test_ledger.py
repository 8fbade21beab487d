"""The user's own record of its session: what it did, independent of what it emitted."""

from __future__ import annotations

import asyncio

import pytest

from streamsim.users.ledger import SessionRecord

from .fake_player import FakePlayer
from .support import Event, new_user

SEEDS = range(10)
PLAYING_AFTER = ("playback_started", "playback_resumed", "heartbeat", "playback_seeked")


def lived(seed: int, player: FakePlayer | None = None) -> tuple[SessionRecord, list[Event]]:
    events: list[Event] = []
    user = new_user(seed, player or FakePlayer(), events)
    asyncio.run(user.live())
    return user.record, events


def watched_by_position(events: list[Event]) -> list[float]:
    """Seconds played per play, from positions: the warehouse's definition, in Python."""
    plays: list[float] = []
    before: Event | None = None
    for event in events:
        kind = event["event_type"]
        if kind == "playback_started" and "restart_reason" not in event:
            plays.append(0.0)
        elif plays and before is not None and before["event_type"] in PLAYING_AFTER:
            arrived = event.get("from_s", event.get("position_s"))
            left = before.get("to_s", before.get("position_s"))
            if arrived is not None and left is not None:
                plays[-1] += arrived - left
        before = event
    return plays


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.timeout(30)
def test_the_record_holds_one_play_per_first_frame_and_the_session_times(seed: int) -> None:
    record, events = lived(seed)

    starts = [
        e for e in events if e["event_type"] == "playback_started" and "restart_reason" not in e
    ]
    assert [play.video_id for play in record.plays] == [e["video_id"] for e in starts]
    assert record.session_id == events[0]["session_id"]
    assert record.started_at is not None and record.ended_at is not None
    assert record.started_at <= record.ended_at


@pytest.mark.parametrize("lose_on", [None, "pause", "seek", "resume"])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.timeout(30)
def test_the_seconds_played_agree_with_the_positions_the_user_reported(
    seed: int, lose_on: str | None
) -> None:
    record, events = lived(seed, FakePlayer(lose_on=lose_on))

    from_positions = watched_by_position(events)
    assert len(from_positions) == len(record.plays)
    for play, expected in zip(record.plays, from_positions, strict=True):
        assert play.watched_s == pytest.approx(expected, abs=0.01)


@pytest.mark.timeout(30)
def test_a_restart_after_a_lost_server_continues_the_same_play() -> None:
    player = FakePlayer(lose_on="pause")

    record, events = lived(3, player)

    restarts = [e for e in events if e.get("restart_reason") == "stream_lost"]
    assert restarts  # this seed pauses, so its first pause finds the server gone
    first_frames = [e for e in events if e["event_type"] == "playback_started"]
    assert len(record.plays) == len(first_frames) - len(restarts)


def test_the_record_as_json_keeps_site_times_as_the_events_write_them() -> None:
    record = SessionRecord("u1", "s1")
    record.opened(1_764_842_400.0)
    record.play_started("v1", 1_764_842_401.2345)
    record.played(10.0)
    record.played(2.5)

    shown = record.as_dict()

    assert shown["started_at"] == "2025-12-04T10:00:00.000Z"
    assert shown["ended_at"] is None
    assert shown["plays"] == [
        {"video_id": "v1", "started_at": "2025-12-04T10:00:01.234Z", "watched_s": 12.5}
    ]
