"""One simulated user's life, driven at high speed against a fake player."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from streamsim.users.player import StreamHandle
from streamsim.users.traits import TraitChoices

from .fake_player import FakePlayer
from .support import HEARTBEAT_S, TIMING_FIELDS, Event, kinds, live, new_user, overlay

SEEDS = range(10)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.timeout(30)
def test_a_session_starts_once_ends_once_and_ends_last(seed: int) -> None:
    events = live(seed)

    assert kinds(events)[0] == "session_started"
    assert kinds(events)[-1] == "session_ended"
    assert kinds(events).count("session_started") == kinds(events).count("session_ended") == 1
    assert {"country", "device", "browser", "connection"} <= set(events[0])
    assert {(e["user_id"], e["session_id"]) for e in events} == {
        (f"u-{seed}", events[0]["session_id"])
    }


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.timeout(30)
def test_every_stream_a_user_starts_is_stopped(seed: int) -> None:
    player = FakePlayer()

    events = live(seed, player)

    assert player.open_streams() == set()
    assert kinds(events).count("playback_started") == len(player.started)
    assert events[-1]["videos_watched"] == len(player.started)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.timeout(30)
def test_heartbeats_come_only_while_playing_each_heartbeat_s_of_play(seed: int) -> None:
    playing, position = False, 0.0
    for event in live(seed):
        kind = event["event_type"]
        if kind in ("playback_started", "playback_resumed"):
            playing, position = True, event["position_s"]
        elif kind == "playback_paused":
            assert playing
            playing = False
        elif kind == "playback_seeked":
            assert playing
            position = event["to_s"]
        elif kind in ("video_ended", "video_skipped", "session_ended"):
            playing = False
        elif kind == "heartbeat":
            assert playing, "a heartbeat while not playing"
            assert event["position_s"] == pytest.approx(position + HEARTBEAT_S, abs=1e-3)
            position = event["position_s"]


def test_users_do_every_kind_of_action_across_a_few_sessions() -> None:
    """Guards the tests above: their branches for pauses, seeks and skips are taken."""
    seen = {kind for seed in range(30) for kind in kinds(live(seed))}

    wanted = {"playback_paused", "playback_resumed", "playback_seeked", "heartbeat"}
    assert wanted | {"video_ended", "video_skipped", "page_viewed"} <= seen


@pytest.mark.timeout(30)
def test_the_same_seed_and_model_give_the_same_actions_and_attributes() -> None:
    def choices(events: list[Event]) -> list[Event]:
        return [{k: v for k, v in e.items() if k not in TIMING_FIELDS} for e in events]

    first, second = live(7), live(7)
    other = live(8)

    assert len(first) > 10
    assert choices(first) == choices(second)
    assert choices(first) != choices(other)


@pytest.mark.timeout(30)
def test_fixed_traits_are_kept_and_the_rest_still_drawn() -> None:
    fixed = TraitChoices(country="JP", device="tv", taste={"music": 1.0})

    events = live(3, traits=fixed)

    assert (events[0]["country"], events[0]["device"]) == ("JP", "tv")
    opened = [e for e in events if e["event_type"] == "video_opened"]
    assert opened
    assert all(e["category"] == "music" for e in opened if e["via"] == "recommended")


ON_FIBRE = TraitChoices(connection="fibre", patience_s=3600)


def one_video_model(tmp_path: object) -> object:
    return overlay(
        tmp_path,  # type: ignore[arg-type]
        """
        [transitions.start]
        open_video = 1.0
        [transitions.play]
        close = 1.0
        [transitions.gave_up]
        close = 1.0
        [durations]
        play = { dist = "constant", value = 5.0 }
        [traits.connections]
        fibre = { weight = 1, startup_ms = { dist = "constant", value = 100.0 } }
        """,
    )


@pytest.mark.timeout(30)
def test_a_busy_router_makes_the_video_start_time_grow(tmp_path: object) -> None:
    model = one_video_model(tmp_path)

    def start_time_ms(busy_answers: int) -> int:
        player = FakePlayer(busy_answers=busy_answers)
        events = live(3, player, model=model, speed=100.0, traits=ON_FIBRE)
        [started] = [e for e in events if e["event_type"] == "playback_started"]
        return int(started["video_start_time_ms"])

    quiet, busy = start_time_ms(0), start_time_ms(4)

    # Four refusals, each followed by the model's retry wait of 2 site seconds.
    assert quiet == pytest.approx(100, abs=150)  # a real millisecond is 100 site ones here
    assert busy - quiet == pytest.approx(8000, abs=1500)


@pytest.mark.timeout(30)
def test_a_viewer_out_of_patience_leaves_before_the_video_starts(tmp_path: object) -> None:
    player = FakePlayer(busy_answers=1000)

    events = live(
        3, player, model=one_video_model(tmp_path), traits=TraitChoices(patience_s=9), speed=100
    )

    assert kinds(events) == [
        "session_started",
        "video_opened",
        "playback_abandoned",
        "session_ended",
    ]
    abandoned = events[2]
    assert abandoned["reason"] == "no_server"
    assert abandoned["waited_ms"] == pytest.approx(9000, abs=1000)
    assert len(player.requests) == abandoned["refusals"] == 5  # at 0, 2, 4, 6, 8 s
    assert player.actions == []


class SlowPlayer(FakePlayer):
    """Grants every stream, but only after `delay_s` real seconds."""

    delay_s: float = 0.3

    async def start(self, request: dict[str, Any]) -> StreamHandle:
        await asyncio.sleep(self.delay_s)
        return await super().start(request)


@pytest.mark.timeout(30)
def test_a_stream_granted_after_the_viewer_gave_up_is_stopped(tmp_path: object) -> None:
    player = SlowPlayer()
    events: list[Event] = []
    user = new_user(
        3,
        player,
        events,
        model=one_video_model(tmp_path),  # type: ignore[arg-type]
        traits=TraitChoices(patience_s=9),
        speed=100,
    )

    async def live_then_settle() -> None:
        await user.live()
        await asyncio.sleep(1.0)  # the slow answer arrives after the session has ended

    asyncio.run(live_then_settle())

    assert "playback_abandoned" in kinds(events)
    assert len(player.started) >= 1
    assert player.open_streams() == set()


class DyingFirstServerPlayer(FakePlayer):
    """The first stream's server is gone from the router's list as soon as it is granted."""

    async def start(self, request: dict[str, Any]) -> StreamHandle:
        granted = await super().start(request)
        handle = StreamHandle(granted.stream_id, f"s-{len(self.started)}", granted.server_url)
        self._live_servers = frozenset(f"s-{n}" for n in range(2, 100))
        self._listed_at = time.monotonic()  # a look at the router after this grant
        return handle


AT_A_DESK = TraitChoices(device="desktop", patience_s=3600)  # plays 1:1 (no watch_scale)


def play_then(tmp_path: object, play_s: float, after_play: str) -> object:
    """One video played `play_s` site seconds, then `after_play` (then the browser closes)."""
    return overlay(
        tmp_path,  # type: ignore[arg-type]
        f"""
        [transitions.start]
        open_video = 1.0
        [transitions.play]
        {after_play} = 1.0
        [transitions.pause]
        close = 1.0
        [durations]
        play = {{ dist = "constant", value = {play_s} }}
        """,
    )


def playback_starts(events: list[Event]) -> list[Event]:
    return [e for e in events if e["event_type"] == "playback_started"]


@pytest.mark.timeout(30)
def test_a_playing_user_notices_its_server_is_gone_at_the_next_heartbeat(
    tmp_path: object,
) -> None:
    player = DyingFirstServerPlayer()

    events = live(5, player, model=play_then(tmp_path, 35.0, "close"), speed=1000, traits=AT_A_DESK)

    started = playback_starts(events)
    assert [e.get("restart_reason") for e in started] == [None, "stream_lost"]
    assert [e["server_id"] for e in started] == ["s-1", "s-2"]
    assert started[1]["position_s"] == pytest.approx(HEARTBEAT_S)  # noticed at the first beat
    beats = [e for e in events if e["event_type"] == "heartbeat"]
    assert {e["stream_id"] for e in beats} == {started[1]["stream_id"]}


@pytest.mark.timeout(30)
def test_a_user_whose_server_dies_starts_again_elsewhere_at_the_same_place(
    tmp_path: object,
) -> None:
    player = FakePlayer(lose_on="pause")

    events = live(5, player, model=play_then(tmp_path, 25.0, "pause"), speed=1000, traits=AT_A_DESK)

    started = playback_starts(events)
    assert [e.get("restart_reason") for e in started] == [None, "stream_lost"]
    assert started[1]["position_s"] == pytest.approx(25.0)
    assert player.requests[1]["position_s"] == pytest.approx(25.0)
    assert [a for _, a, _ in player.actions] == ["pause", "stop"]  # the new stream, paused
    assert player.open_streams() == {"stream-1"}  # the lost one went with its server


@pytest.mark.timeout(30)
def test_closing_the_browser_mid_video_skips_it_stops_the_stream_and_ends_the_session() -> None:
    player, events = FakePlayer(), list[Event]()

    async def scenario() -> None:
        user = new_user(1, player, events, speed=1.0)
        task = asyncio.get_running_loop().create_task(user.live())
        while not player.started:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(scenario())

    assert kinds(events)[-2:] == ["video_skipped", "session_ended"]
    assert events[-2]["next"] == "close"
    assert player.open_streams() == set()


@pytest.mark.timeout(30)
def test_a_list_of_servers_older_than_the_stream_does_not_make_it_lost(tmp_path: object) -> None:
    player = FakePlayer()
    player._live_servers = frozenset()  # looked before the stream's server existed
    player._listed_at = time.monotonic()

    events = live(5, player, model=play_then(tmp_path, 35.0, "close"), speed=1000, traits=AT_A_DESK)

    assert [e.get("restart_reason") for e in playback_starts(events)] == [None]
    assert player.open_streams() == set()
