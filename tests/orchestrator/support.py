"""Fakes and helpers of the orchestrator tests: a users endpoint, a thread-hosted server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from streamsim.webserve import serve


class UsersEndpoint:
    """POST /users answering `status` after `delay_s`, counting what it sees at once."""

    def __init__(self, status: int = 201, delay_s: float = 0.0) -> None:
        self.status = status
        self.delay_s = delay_s
        self.received = 0
        self.open_now = 0
        self.most_open = 0
        self.bodies: list[Any] = []

    async def create(self, request: web.Request) -> web.Response:
        self.received += 1
        self.bodies.append(await request.json())
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.open_now -= 1
        return web.json_response({"user_id": f"u{self.received}"}, status=self.status)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/users", self.create)
        return app


@contextmanager
def served_in_thread(make_app: Callable[[], web.Application]) -> Iterator[str]:
    """An aiohttp app on a free loopback port in a thread of its own, for blocking clients."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    url: list[str] = []

    async def start() -> web.AppRunner:
        runner, port = await serve(make_app(), "127.0.0.1", 0)
        url.append(f"http://127.0.0.1:{port}")
        return runner

    def host() -> None:
        asyncio.set_event_loop(loop)
        runner = loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=host, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield url[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
