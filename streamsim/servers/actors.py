"""A streaming server as a Ray actor: Ray places it, lists it and tells the group if it dies."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import ray
from aiohttp import web

from streamsim.bus import Emitter
from streamsim.bus.outbox import Outbox
from streamsim.clock import SiteClock
from streamsim.events import Source
from streamsim.servers.server import StreamServer, server_app
from streamsim.settings import Settings
from streamsim.webserve import serve

log = logging.getLogger(__name__)


def outbox_file(settings: Settings, server_id: str) -> Path:
    """Where a server keeps what it sends until Kafka settles it, and so its counts.

    On the head's machine (every server, when the cluster is one machine) the group finds
    it if the server dies; a server on another node leaves it there, and the group falls
    back on the counts the server last reported.
    """
    return settings.state / "runs" / settings.run_id / "servers" / f"{server_id}.outbox"


@ray.remote(max_restarts=0)
class ServerActor:
    """One streaming server process; its HTTP port is chosen when it starts."""

    def __init__(self, server_id: str, settings: Settings, clock: SiteClock) -> None:
        self._settings = settings
        self._clock = clock
        self._server_id = server_id
        self._emitter = Emitter(
            settings.kafka.bootstrap,
            Source.SERVER,
            outbox=Outbox(outbox_file(settings, server_id)),
        )
        self._server: StreamServer | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> dict[str, Any]:
        servers = self._settings.servers
        self._server = StreamServer(
            self._server_id,
            servers.capacity,
            servers.heartbeat_s,
            self._clock,
            self._settings.run_id,
            self._emitter.emit,
            stream_timeout_s=servers.stream_timeout_s,
            pause_stop_s=servers.pause_stop_s,
        )
        self._server.begin()
        # The node's own address: users on other nodes reach the server there.
        host = ray.util.get_node_ip_address()
        self._runner, port = await serve(server_app(self._server), host, 0)
        node_id = ray.get_runtime_context().get_node_id()
        return {
            "url": f"http://{host}:{port}",
            "node_id": node_id,
            "pid": os.getpid(),
            "started_at": self._server.started_at,
        }

    async def snapshot(self) -> dict[str, Any]:
        """Its streams, and its emitted counts, in one call for the group's regular look."""
        streams = self._server.snapshot() if self._server else []
        return {"streams": streams, "emitted": self._emitter.counts()["emitted"]}

    async def drain(self) -> None:
        if self._server is not None:
            self._server.drain()

    async def stop(self) -> dict[str, Any]:
        """Stop (cutting what still plays), stop serving, hand back what this server emitted
        and the site time of its `server_stopped` (`stopped_at`)."""
        if self._server is not None:
            await self._server.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        await asyncio.to_thread(self._emitter.close)
        stopped_at = self._server.stopped_at if self._server is not None else None
        return {**self._emitter.counts(), "stopped_at": stopped_at}
