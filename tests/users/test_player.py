"""The player against a router and a server of the test's own, on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from streamsim.users.player import NoServerAvailable, Player, StreamHandle, StreamLost


class Router:
    """Answers POST /streams with `status`, and every action on a stream with `action_status`."""

    def __init__(self, status: int = 201, action_status: int = 200) -> None:
        self.status = status
        self.action_status = action_status
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.url = ""

    async def start(self, request: web.Request) -> web.Response:
        self.seen.append((request.path, await request.json()))
        if self.status == 503:
            return web.json_response({"error": "every server is full"}, status=503)
        reply = {"stream_id": "st-1", "server_id": "s-1", "server_url": self.url}
        return web.json_response(reply, status=self.status)

    async def act(self, request: web.Request) -> web.Response:
        self.seen.append((request.path, await request.json()))
        return web.json_response({}, status=self.action_status)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/streams", self.start)
        app.router.add_post("/streams/{stream_id}/{action}", self.act)
        return app


T = TypeVar("T")


async def with_player(router: Router, steps: Callable[[Player], Awaitable[T]]) -> T:
    async with TestServer(router.app(), host="127.0.0.1") as server:
        router.url = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as http:
            return await steps(Player(http, router.url))


REQUEST = {"user_id": "u-1", "session_id": "s", "video_id": "v00001", "position_s": 0.0}


@pytest.mark.timeout(10)
def test_the_player_starts_a_stream_and_steers_it_on_its_server() -> None:
    router = Router()

    async def steps(player: Player) -> StreamHandle:
        handle = await player.start(REQUEST)
        await player.act(handle, "seek", to_s=12.5)
        return handle

    handle = asyncio.run(with_player(router, steps))

    assert (handle.stream_id, handle.server_id, handle.server_url) == ("st-1", "s-1", router.url)
    assert router.seen == [("/streams", REQUEST), ("/streams/st-1/seek", {"to_s": 12.5})]


@pytest.mark.timeout(10)
def test_a_full_router_raises_no_server_available() -> None:
    async def steps(player: Player) -> None:
        await player.start(REQUEST)

    with pytest.raises(NoServerAvailable, match="503"):
        asyncio.run(with_player(Router(status=503), steps))


@pytest.mark.timeout(10)
def test_an_action_the_server_refuses_loses_the_stream() -> None:
    async def steps(player: Player) -> None:
        await player.act(await player.start(REQUEST), "pause")

    with pytest.raises(StreamLost, match="s-1"):
        asyncio.run(with_player(Router(action_status=404), steps))


@pytest.mark.timeout(10)
def test_a_server_that_is_gone_loses_the_stream() -> None:
    async def scenario() -> None:
        server = TestServer(web.Application(), host="127.0.0.1")
        await server.start_server()
        gone = str(server.make_url("")).rstrip("/")
        await server.close()
        async with aiohttp.ClientSession() as http:
            await Player(http, gone).act(StreamHandle("st-1", "s-9", gone), "stop")

    with pytest.raises(StreamLost, match="s-9"):
        asyncio.run(scenario())
