"""Closing the browser at any moment ends the session, even as a stream is being granted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamsim.users.ledger import SessionRecord
from streamsim.users.player import StreamHandle

from .fake_player import FakePlayer
from .support import Event, new_user


class GrantingAsTheBrowserCloses(FakePlayer):
    """Grants the stream and has the user's task cancelled in the turns that follow: the
    browser is closed while the grant is on its way to the user."""

    user_task: asyncio.Task[None] | None = None

    async def start(self, request: dict[str, Any]) -> StreamHandle:
        handle = await super().start(request)
        loop, task = asyncio.get_running_loop(), self.user_task
        assert task is not None
        # After the grant's own callbacks have run, before the user's task wakes up.
        loop.call_soon(lambda: loop.call_soon(task.cancel) and None)
        return handle


@pytest.mark.timeout(30)
def test_a_browser_closed_as_its_stream_is_granted_still_ends_the_session() -> None:
    async def scenario() -> tuple[SessionRecord, list[Event], GrantingAsTheBrowserCloses]:
        player = GrantingAsTheBrowserCloses()
        events: list[Event] = []
        user = new_user(1, player, events)
        player.user_task = asyncio.ensure_future(user.live())
        await asyncio.wait([player.user_task], timeout=10)
        return user.record, events, player

    record, events, player = asyncio.run(scenario())

    # The browser closed before the first frame: no play, and the granted stream is stopped.
    assert [e["event_type"] for e in events[-2:]] == ["video_skipped", "session_ended"]
    assert events[-2]["next"] == "close"
    assert "playback_started" not in [e["event_type"] for e in events]
    assert record.plays == [] and record.ended_at is not None
    assert len(player.started) == 1 and player.open_streams() == set()


class SlowToStop(FakePlayer):
    """Holds every stop until the test says so, as a busy server would."""

    stopping: asyncio.Event | None = None

    async def act(self, stream: StreamHandle, action: str, **body: Any) -> None:
        if action == "stop" and body.get("reason") == "user_left" and self.stopping is not None:
            self.stopping.set()
            await asyncio.sleep(3600)
        await super().act(stream, action, **body)


@pytest.mark.timeout(30)
def test_a_browser_closed_again_while_it_closes_still_ends_the_session() -> None:
    async def scenario() -> tuple[SessionRecord, list[Event]]:
        player = SlowToStop()
        player.stopping = asyncio.Event()
        events: list[Event] = []
        user = new_user(1, player, events)
        task = asyncio.ensure_future(user.live())
        while not any(e["event_type"] == "playback_started" for e in events):
            await asyncio.sleep(0)
        task.cancel()  # the first close: the user stops its stream ...
        await player.stopping.wait()
        task.cancel()  # ... and is closed again while that stop is under way
        await asyncio.wait([task], timeout=10)
        return user.record, events

    record, events = asyncio.run(scenario())

    assert events[-1]["event_type"] == "session_ended"
    assert record.ended_at is not None
