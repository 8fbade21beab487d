"""The user service: a user per call, each living on its own, all closed on demand."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from streamsim.clock import SiteClock
from streamsim.users.behaviour import Behaviour
from streamsim.users.service import UserService, user_app

from .fake_player import FakePlayer

Event = dict[str, Any]
# Viewers who mean to watch for hours: at speed 1 none finishes while a test runs.
LINGERING = Behaviour(think_median_s=0.01, watch_median_s=36_000.0, pause_chance=0.0)


def new_service(
    player: FakePlayer,
    events: list[Event],
    speed: float = 1.0,
    seed: int | None = 11,
    behaviour: Behaviour = LINGERING,
) -> UserService:
    return UserService(
        clock=SiteClock.starting_now(speed),
        player=player,
        emit=events.append,
        heartbeat_s=10.0,
        run_id="r1",
        seed=seed,
        behaviour=behaviour,
    )


def by_user(events: list[Event]) -> dict[str, list[Event]]:
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        grouped[event["user_id"]].append(event)
    return grouped


@pytest.mark.timeout(20)
def test_close_all_ends_every_session_and_leaves_no_task_running() -> None:
    player, events = FakePlayer(), list[Event]()

    async def scenario() -> None:
        service = new_service(player, events)
        for _ in range(5):
            service.create()
        await asyncio.sleep(0.2)  # every user is watching its first video by now
        assert service.active() == 5

        await service.close_all(timeout_s=5.0)

        assert service.active() == 0
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert service.totals == {"created": 5, "closed_early": 5}

    asyncio.run(scenario())

    sessions = by_user(events)
    assert len(sessions) == 5
    for user_events in sessions.values():
        assert user_events[0]["event_type"] == "session_started"
        assert user_events[-1]["event_type"] == "session_ended"
    assert len(player.started) == 5
    assert sorted(player.stopped()) == sorted(h.stream_id for h in player.started)
    assert all(body == {"reason": "user_left"} for _, action, body in player.actions)


@pytest.mark.timeout(20)
def test_a_user_who_finishes_is_forgotten_and_counted_as_finished() -> None:
    events: list[Event] = []

    async def scenario() -> UserService:
        brief = Behaviour(videos_mean=1.0, think_median_s=0.01, watch_median_s=0.01)
        service = new_service(FakePlayer(), events, behaviour=brief)
        service.create()
        while service.active():
            await asyncio.sleep(0.01)
        return service

    service = asyncio.run(scenario())

    assert service.totals == {"created": 1, "finished": 1}
    assert events[-1]["event_type"] == "session_ended"


@pytest.mark.timeout(20)
def test_a_seeded_service_creates_the_same_users_each_time() -> None:
    async def user_ids() -> list[str]:
        service = new_service(FakePlayer(), [], seed=5)
        ids = [service.create() for _ in range(3)]
        await service.close_all()
        return ids

    first, second = asyncio.run(user_ids()), asyncio.run(user_ids())

    assert first == second
    assert len(set(first)) == 3


@pytest.mark.parametrize("path", ["/users", "/addOneUser"])
@pytest.mark.timeout(20)
def test_a_post_creates_one_user(path: str) -> None:
    events: list[Event] = []

    async def scenario() -> tuple[int, dict[str, Any], dict[str, Any]]:
        service = new_service(FakePlayer(), events)
        client: TestClient[Any, Any] = TestClient(TestServer(user_app(service), host="127.0.0.1"))
        await client.start_server()
        try:
            answer = await client.post(path)
            created = await answer.json()
            await asyncio.sleep(0.05)
            listing = await (await client.get("/users")).json()
        finally:
            await client.close()
            await service.close_all()
        return answer.status, created, listing

    status, created, listing = asyncio.run(scenario())

    assert status == 201
    assert created["user_id"].startswith("u-1-")
    assert listing["active"] == 1 and listing["totals"] == {"created": 1}
    assert {e["user_id"] for e in events} == {created["user_id"]}
