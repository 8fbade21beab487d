"""The servers and their router as Ray actors, so Ray places, watches and restarts them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import ray
from aiohttp import web
from ray.actor import ActorHandle

from streamsim.bus import Emitter
from streamsim.clock import SiteClock
from streamsim.events import Source
from streamsim.servers.server import StreamServer, server_app
from streamsim.settings import Settings
from streamsim.webserve import serve

log = logging.getLogger(__name__)


@ray.remote(max_restarts=0)
class ServerActor:
    """One streaming server process; its HTTP port is chosen when it starts."""

    def __init__(self, server_id: str, settings: Settings, clock: SiteClock) -> None:
        self._settings = settings
        self._clock = clock
        self._server_id = server_id
        self._emitter = Emitter(settings.kafka.bootstrap, Source.SERVER)
        self._server: StreamServer | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        servers = self._settings.servers
        self._server = StreamServer(
            self._server_id,
            servers.capacity,
            servers.heartbeat_s,
            self._clock,
            self._settings.run_id,
            self._emitter.emit,
        )
        self._server.begin()
        host = ray.util.get_node_ip_address()
        self._runner, port = await serve(server_app(self._server), host, 0)
        return f"http://{host}:{port}"

    async def load(self) -> int:
        return self._server.load() if self._server else 0

    async def stop(self) -> dict[str, dict[str, int]]:
        """Drain, stop serving, and hand back what this server emitted."""
        if self._server is not None:
            await self._server.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        await asyncio.to_thread(self._emitter.close)
        return self._emitter.counts()

    async def counts(self) -> dict[str, dict[str, int]]:
        return self._emitter.counts()


@dataclass
class Member:
    server_id: str
    actor: ActorHandle
    url: str
    load: int = 0


@ray.remote(max_restarts=0)
class ServerGroup:
    """The router in front of the servers: a new stream goes to the least loaded one."""

    def __init__(self, settings: Settings, clock: SiteClock) -> None:
        self._settings = settings
        self._clock = clock
        self._members: list[Member] = []
        self._next_id = 1
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._poller: asyncio.Task[None] | None = None
        self._stopped_counts: list[dict[str, dict[str, int]]] = []

    async def start(self) -> str:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        await self.scale_to(self._settings.servers.initial_servers)
        self._poller = asyncio.get_running_loop().create_task(self._poll_loads())
        servers = self._settings.servers
        self._runner, port = await serve(self._router_app(), servers.host, servers.router_port)
        return f"http://{servers.host}:{port}"

    async def scale_to(self, count: int) -> int:
        """Grow or shrink the group; the autoscaler decides `count`."""
        while len(self._members) < count:
            await self._add_server()
        while len(self._members) > count:
            member = min(self._members, key=lambda m: m.load)
            self._members.remove(member)
            self._stopped_counts.append(await member.actor.stop.remote())
            ray.kill(member.actor)
        return len(self._members)

    async def _add_server(self) -> None:
        server_id = f"server-{self._next_id}"
        self._next_id += 1
        actor = ServerActor.options(  # type: ignore[attr-defined]
            name=f"streamsim-{server_id}",
            num_cpus=self._settings.servers.cpus_per_server,
        ).remote(server_id, self._settings, self._clock)
        url = await actor.start.remote()
        self._members.append(Member(server_id, actor, url))
        log.info("%s serving at %s", server_id, url)

    async def _poll_loads(self) -> None:
        """Users stop streams on the servers directly, so the router asks for loads."""
        while True:
            for member in list(self._members):
                member.load = await member.actor.load.remote()
            await asyncio.sleep(0.5)

    def _choose(self) -> Member | None:
        capacity = self._settings.servers.capacity
        open_members = [m for m in self._members if m.load < capacity]
        return min(open_members, key=lambda m: m.load) if open_members else None

    async def route(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        member = self._choose()
        if member is None or self._http is None:
            return 503, {"error": "every server is full"}
        async with self._http.post(f"{member.url}/streams", json=body) as answer:
            reply = await answer.json()
        if answer.status == 201:
            member.load += 1
            reply["server_url"] = member.url
        return answer.status, reply

    def _router_app(self) -> web.Application:
        async def start_stream(request: web.Request) -> web.Response:
            status, reply = await self.route(await request.json())
            return web.json_response(reply, status=status)

        async def health(_: web.Request) -> web.Response:
            return web.json_response(await self.describe())

        app = web.Application()
        app.router.add_post("/streams", start_stream)
        app.router.add_get("/health", health)
        return app

    async def describe(self) -> dict[str, Any]:
        capacity = self._settings.servers.capacity
        return {
            "servers": [
                {
                    "server_id": m.server_id,
                    "url": m.url,
                    "streams": m.load,
                    "utilisation": round(m.load / capacity, 4),
                }
                for m in self._members
            ],
            "capacity_per_server": capacity,
        }

    async def stop(self) -> list[dict[str, dict[str, int]]]:
        """Stop every server and return each one's counts, including those already gone."""
        if self._poller is not None:
            self._poller.cancel()
        await self.scale_to(0)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()
        return self._stopped_counts
