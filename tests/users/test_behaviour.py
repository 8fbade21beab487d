"""One simulated user's session, driven at high speed against a fake player."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamsim.clock import SiteClock
from streamsim.users.behaviour import Behaviour, SimulatedUser
from streamsim.users.catalogue import Catalogue

from .fake_player import FakePlayer

Event = dict[str, Any]
HEARTBEAT_S = 10.0
# Pauses and seeks far more often than real viewers, and shorter sessions, so that a few
# users cover every path of the script in a fraction of a second.
LIVELY = Behaviour(
    videos_mean=3.0,
    think_median_s=2.0,
    watch_median_s=60.0,
    pause_chance=0.2,
    pause_median_s=5.0,
    seek_chance=0.2,
)
ONE_VIDEO = Behaviour(videos_mean=1.0, think_median_s=1.0, watch_median_s=30.0)
# Fields that come from the clock, not from the user's choices.
TIMING_FIELDS = {"event_id", "emitted_at", "video_start_time_ms"}


def live(
    seed: int, player: FakePlayer, behaviour: Behaviour = LIVELY, speed: float = 5000.0
) -> list[Event]:
    events: list[Event] = []
    user = SimulatedUser(
        f"u-{seed}",
        seed,
        behaviour=behaviour,
        catalogue=Catalogue(),
        clock=SiteClock.starting_now(speed),
        player=player,
        emit=events.append,
        heartbeat_s=HEARTBEAT_S,
        run_id="r1",
    )
    asyncio.run(user.live())
    return events


def kinds(events: list[Event]) -> list[str]:
    return [e["event_type"] for e in events]


SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.timeout(20)
def test_a_session_starts_with_session_started_and_ends_with_session_ended(seed: int) -> None:
    events = live(seed, FakePlayer())

    assert kinds(events)[0] == "session_started"
    assert kinds(events)[-1] == "session_ended"
    assert kinds(events).count("session_started") == kinds(events).count("session_ended") == 1
    assert events[0]["country"] and events[0]["device"]
    assert {(e["user_id"], e["session_id"]) for e in events} == {
        (f"u-{seed}", events[0]["session_id"])
    }
    assert all(e["source"] == "user" and e["run_id"] == "r1" for e in events)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.timeout(20)
def test_every_stream_a_user_starts_is_stopped(seed: int) -> None:
    player = FakePlayer()

    events = live(seed, player)

    started = [handle.stream_id for handle in player.started]
    assert started
    assert sorted(player.stopped()) == sorted(started)
    assert kinds(events).count("playback_started") == len(started)
    assert events[-1]["videos_watched"] == len(started)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.timeout(20)
def test_heartbeats_come_only_while_playing_each_heartbeat_s_further_on(seed: int) -> None:
    events = live(seed, FakePlayer())

    playing, position = False, 0.0
    for event in events:
        kind = event["event_type"]
        if kind == "playback_started":
            playing, position = True, 0.0
        elif kind == "playback_paused":
            assert playing
            playing = False
            assert event["position_s"] == pytest.approx(position)
        elif kind == "playback_resumed":
            assert not playing
            playing = True
            assert event["position_s"] == pytest.approx(position)
        elif kind == "playback_seeked":
            assert playing
            assert event["from_s"] == pytest.approx(position)
            position = event["to_s"]
        elif kind in ("video_ended", "video_skipped"):
            playing = False
        elif kind == "heartbeat":
            assert playing, "a heartbeat while not playing"
            assert event["position_s"] == pytest.approx(position + HEARTBEAT_S, abs=1e-3)
            position = event["position_s"]


def test_the_lively_users_do_pause_and_seek() -> None:
    """Guards the test above: its branches for pauses and seeks are really taken."""
    every = [kind for seed in SEEDS for kind in kinds(live(seed, FakePlayer()))]

    assert {"playback_paused", "playback_resumed", "playback_seeked", "heartbeat"} <= set(every)


@pytest.mark.timeout(20)
def test_the_same_seed_gives_the_same_session() -> None:
    def choices(events: list[Event]) -> list[Event]:
        return [{k: v for k, v in e.items() if k not in TIMING_FIELDS} for e in events]

    first, second = live(7, FakePlayer()), live(7, FakePlayer())
    other = live(8, FakePlayer())

    assert choices(first) == choices(second)
    assert choices(first) != choices(other)


@pytest.mark.timeout(20)
def test_a_busy_router_makes_the_video_start_time_grow() -> None:
    def start_time_ms(busy_answers: int) -> int:
        events = live(3, FakePlayer(busy_answers=busy_answers), ONE_VIDEO, speed=200.0)
        [started] = [e for e in events if e["event_type"] == "playback_started"]
        return int(started["video_start_time_ms"])

    quiet, busy = start_time_ms(0), start_time_ms(4)

    # Four refusals, each followed by a retry wait of 2 site seconds.
    assert busy >= 8000
    assert busy - quiet == pytest.approx(8000, abs=1500)


@pytest.mark.timeout(20)
def test_a_viewer_gives_up_on_a_video_no_server_has_room_for() -> None:
    patient_for_10_s = Behaviour(videos_mean=1.0, think_median_s=1.0, busy_give_up_s=10.0)
    player = FakePlayer(busy_answers=1000)

    events = live(3, player, patient_for_10_s)

    assert kinds(events) == ["session_started", "page_viewed", "video_opened", "session_ended"]
    assert len(player.requests) == 5  # asked every 2 site seconds for 10
    assert player.actions == []
