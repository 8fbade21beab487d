"""The user service and its HTTP API: a user per call, shown, closed, and errors named."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer

from streamsim.clock import SiteClock
from streamsim.users.api import user_app
from streamsim.users.faults import FaultOutlet
from streamsim.users.service import UserRequest, UserService

from .fake_player import FakePlayer
from .support import Event, overlay

T = TypeVar("T")
# Faulty messages are not what these tests look at; tests/users/test_faults.py reads them.
IGNORED_FAULTS = FaultOutlet(send_bytes=lambda *_: None, record=lambda _: None)


def new_service(player: FakePlayer, events: list[Event], seed: int | None = 11) -> UserService:
    return UserService(
        clock=SiteClock.starting_now(1.0),
        player=player,
        emit=events.append,
        heartbeat_s=10.0,
        run_id="r1",
        seed=seed,
        faults=IGNORED_FAULTS,
    )


def with_client(service: UserService, steps: Callable[[TestClient[Any, Any]], Awaitable[T]]) -> T:
    async def scenario() -> T:
        client: TestClient[Any, Any] = TestClient(TestServer(user_app(service), host="127.0.0.1"))
        await client.start_server()
        try:
            return await steps(client)
        finally:
            await client.close()
            await service.close_all(timeout_s=5.0)

    return asyncio.run(scenario())


@pytest.mark.timeout(20)
def test_close_all_ends_every_session_and_leaves_no_task_or_stream() -> None:
    player, events = FakePlayer(), list[Event]()

    async def scenario() -> UserService:
        service = new_service(player, events)
        for _ in range(5):
            service.create()
        await asyncio.sleep(0.1)
        assert service.active() == 5
        await service.close_all(timeout_s=5.0)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return service

    service = asyncio.run(scenario())

    assert service.active() == 0
    assert service.totals == {"created": 5, "closed_early": 5}
    assert [e["event_type"] for e in events].count("session_ended") == 5
    assert player.open_streams() == set()


@pytest.mark.timeout(20)
def test_a_user_who_closes_the_browser_by_itself_is_forgotten_as_finished(tmp_path: Any) -> None:
    brief = overlay(tmp_path, "[transitions.start]\nclose = 1.0\n")
    events: list[Event] = []

    async def scenario() -> UserService:
        service = UserService(
            clock=SiteClock.starting_now(1.0),
            player=FakePlayer(),
            emit=events.append,
            heartbeat_s=10.0,
            run_id="r1",
            model=brief,
        )
        service.create()
        while service.active():
            await asyncio.sleep(0.01)
        return service

    service = asyncio.run(scenario())

    assert service.totals == {"created": 1, "finished": 1}
    assert [e["event_type"] for e in events] == ["session_started", "session_ended"]


@pytest.mark.timeout(20)
def test_a_seeded_service_creates_the_same_users_each_time() -> None:
    async def user_ids() -> list[str]:
        service = new_service(FakePlayer(), [], seed=5)
        ids = [service.create() for _ in range(3)]
        await service.close_all()
        return ids

    assert asyncio.run(user_ids()) == asyncio.run(user_ids())


@pytest.mark.parametrize("path", ["/users", "/addOneUser"])
@pytest.mark.timeout(20)
def test_a_post_creates_exactly_one_user(path: str) -> None:
    events: list[Event] = []
    service = new_service(FakePlayer(), events)

    async def steps(client: TestClient[Any, Any]) -> tuple[int, Any, Any]:
        answer = await client.post(path)
        listing = await (await client.get("/users")).json()
        return answer.status, await answer.json(), listing

    status, created, listing = with_client(service, steps)

    assert status == 201
    assert listing["active"] == 1 and listing["totals"] == {"created": 1}
    assert [u["user_id"] for u in listing["users"]] == [created["user_id"]]
    assert {e["user_id"] for e in events} == {created["user_id"]}


@pytest.mark.timeout(20)
def test_a_body_fixes_seed_traits_and_error_factor_and_get_shows_them() -> None:
    service = new_service(FakePlayer(), [])
    body = {"seed": 42, "error_factor": 0.25, "traits": {"country": "BR", "device": "tv"}}

    async def steps(client: TestClient[Any, Any]) -> Any:
        created = await (await client.post("/users", json=body)).json()
        await asyncio.sleep(0.05)
        return await (await client.get(f"/users/{created['user_id']}")).json()

    shown = with_client(service, steps)

    assert (shown["seed"], shown["error_factor"]) == (42, 0.25)
    assert (shown["traits"]["country"], shown["traits"]["device"]) == ("BR", "tv")
    assert shown["state"] in {"browsing", "waiting", "watching"}
    assert shown["actions_done"] and shown["recent_actions"]


@pytest.mark.timeout(20)
def test_delete_closes_the_browser_now() -> None:
    player, events = FakePlayer(), list[Event]()
    service = new_service(player, events)

    async def steps(client: TestClient[Any, Any]) -> tuple[int, int]:
        user_id = (await (await client.post("/users")).json())["user_id"]
        closed = await client.delete(f"/users/{user_id}")
        again = await client.get(f"/users/{user_id}")
        return closed.status, again.status

    assert with_client(service, steps) == (200, 404)
    assert events[-1]["event_type"] == "session_ended"
    assert service.active() == 0
    assert player.open_streams() == set()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/users", b"{not json", 400, "'body'"),
        ("POST", "/users", b"[1, 2]", 400, "'body'"),
        ("POST", "/users", b'{"seed": -1}', 400, "'seed'"),
        ("POST", "/users", b'{"seed": "abc"}', 400, "'seed'"),
        ("POST", "/users", b'{"error_factor": 1.5}', 400, "'error_factor'"),
        ("POST", "/users", b'{"error_factor": -0.1}', 400, "'error_factor'"),
        ("POST", "/users", b'{"colour": "red"}', 400, "'colour'"),
        ("POST", "/users", b'{"traits": {"device": "toaster"}}', 400, "'traits.device'"),
        ("POST", "/users", b'{"traits": {"country": "XX"}}', 400, "'traits.country'"),
        ("POST", "/users", b'{"traits": {"patience_s": 0}}', 400, "'traits.patience_s'"),
        ("POST", "/users", b'{"traits": {"taste": {"knitting": 1}}}', 400, "'traits.taste'"),
        ("POST", "/users", b'{"traits": {"taste": {"music": 0}}}', 400, "'traits.taste'"),
        ("POST", "/addOneUser", b'{"seed": 1.5}', 400, "'seed'"),
        ("GET", "/users?limit=abc", b"", 400, "'limit'"),
        ("GET", "/users?limit=5000", b"", 400, "'limit'"),
        ("GET", "/users?offset=-1", b"", 400, "'offset'"),
        ("GET", "/users?offset=99999999999999999999", b"", 400, "'offset'"),
        ("GET", "/users/u-99-nobody", b"", 404, "'user_id'"),
        ("DELETE", "/users/u-99-nobody", b"", 404, "'user_id'"),
    ],
)
@pytest.mark.timeout(20)
def test_every_bad_request_gets_a_4xx_naming_the_field(
    method: str, path: str, body: bytes, status: int, field: str
) -> None:
    service = new_service(FakePlayer(), [])

    async def steps(client: TestClient[Any, Any]) -> tuple[int, Any]:
        answer = await client.request(method, path, data=body)
        return answer.status, await answer.json()

    answered, reply = with_client(service, steps)

    assert answered == status
    assert field in reply["error"]
    assert service.totals["created"] == 0


@pytest.mark.timeout(20)
def test_the_openapi_document_names_exactly_the_routes_served() -> None:
    service = new_service(FakePlayer(), [])
    app = user_app(service)
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }

    async def steps(client: TestClient[Any, Any]) -> Any:
        return await (await client.get("/openapi.json")).json()

    document = with_client(service, steps)
    described = {(m, path) for path, ops in document["paths"].items() for m in ops}

    assert described == served
    assert set(document["components"]["schemas"]["User"]["properties"]) == set(
        UserRequest.model_fields
    )
