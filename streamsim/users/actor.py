"""The user service as a Ray actor, serving its HTTP API from inside the actor."""

from __future__ import annotations

import asyncio

import aiohttp
import ray
from aiohttp import web

from streamsim.bus import Emitter
from streamsim.clock import SiteClock
from streamsim.events import Source
from streamsim.settings import Settings
from streamsim.users.player import Player
from streamsim.users.service import UserService, user_app
from streamsim.webserve import serve


@ray.remote(max_restarts=0)
class UserServiceActor:
    def __init__(self, settings: Settings, clock: SiteClock, router_url: str) -> None:
        self._settings = settings
        self._clock = clock
        self._router_url = router_url
        self._emitter = Emitter(settings.kafka.bootstrap, Source.USER)
        self._service: UserService | None = None
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        connector = aiohttp.TCPConnector(limit=200)
        self._http = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=15)
        )
        users = self._settings.users
        self._service = UserService(
            clock=self._clock,
            player=Player(self._http, self._router_url),
            emit=self._emitter.emit,
            heartbeat_s=users.heartbeat_s,
            run_id=self._settings.run_id,
            seed=users.seed,
        )
        self._runner, port = await serve(user_app(self._service), users.host, users.port)
        return f"http://{users.host}:{port}"

    async def describe(self) -> dict[str, object]:
        return self._service.describe() if self._service else {}

    async def stop(self) -> dict[str, dict[str, int]]:
        """Close every browser, stop serving, and hand back what the users emitted."""
        if self._runner is not None:
            await self._runner.cleanup()
        if self._service is not None:
            await self._service.close_all()
        if self._http is not None:
            await self._http.close()
        await asyncio.to_thread(self._emitter.close)
        return self._emitter.counts()
