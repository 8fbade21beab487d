"""The user service on Ray: a front actor serving HTTP, and replicas that hold the users.

The front places each new user on a replica with room (see `replicas.py`), creating a
replica through Ray when every one is full and retiring replicas left empty. Each replica
has its own Kafka producer and HTTP client, so adding replicas adds throughput.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import orjson
import ray
from aiohttp import web
from ray.actor import ActorHandle

from streamsim.bus import Emitter
from streamsim.clock import SiteClock
from streamsim.events import Source
from streamsim.events.topics import TRUTH_TOPIC
from streamsim.settings import Settings
from streamsim.users.api import user_app
from streamsim.users.faults import FaultOutlet
from streamsim.users.model import load_model
from streamsim.users.player import Player
from streamsim.users.replicas import ReplicaSet
from streamsim.users.service import UserRequest, UserService
from streamsim.webserve import serve

log = logging.getLogger(__name__)


@ray.remote(max_restarts=0)
class UserReplicaActor:
    """One replica: its users run as asyncio tasks in this actor's event loop."""

    def __init__(self, settings: Settings, clock: SiteClock, router_url: str, index: int) -> None:
        self._settings = settings
        self._clock = clock
        self._router_url = router_url
        self._index = index
        self._emitter = Emitter(settings.kafka.bootstrap, Source.USER)
        self._truth = Emitter(settings.kafka.bootstrap, TRUTH_TOPIC)
        self._service: UserService | None = None
        self._http: aiohttp.ClientSession | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        users = self._settings.users
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200),
            timeout=aiohttp.ClientTimeout(total=15),
        )
        seed = None if users.seed is None else users.seed * 1_000_003 + self._index
        player = Player(self._http, self._router_url)
        self._watcher = asyncio.get_running_loop().create_task(player.watch_servers())
        self._service = UserService(
            clock=self._clock,
            player=player,
            emit=self._emitter.emit,
            heartbeat_s=users.heartbeat_s,
            run_id=self._settings.run_id,
            seed=seed,
            model=load_model(users.model_file),
            id_prefix=f"u{self._index}",
            emitted=lambda: self._emitter.counts()["emitted"],
            faults=FaultOutlet(self._emitter.emit_bytes, self._record_fault),
            fault_weights=users.weights_by_kind(),
        )

    def _record_fault(self, truth: dict[str, Any]) -> None:
        """One truth record, keyed by its session and counted by its kind."""
        self._truth.emit_bytes(
            orjson.dumps(truth), str(truth["session_id"]).encode(), str(truth["kind"])
        )

    def _users(self) -> UserService:
        assert self._service is not None, "start() first"
        return self._service

    async def create(self, request: UserRequest) -> dict[str, str]:
        """The new user's id, or the error that names a trait the model lacks."""
        try:
            return {"user_id": self._users().create(request)}
        except ValueError as error:
            return {"error": str(error)}

    async def show(self, user_id: str) -> dict[str, Any] | None:
        return self._users().show(user_id)

    async def close(self, user_id: str) -> bool:
        return await self._users().close(user_id)

    async def listing(self, offset: int, limit: int) -> dict[str, Any]:
        return self._users().listing(offset, limit)

    async def stop(self) -> dict[str, dict[str, int]]:
        """Close every browser, and hand back what the users emitted and the faults they made."""
        if self._service is not None:
            await self._service.close_all()
        if self._watcher is not None:
            self._watcher.cancel()
        if self._http is not None:
            await self._http.close()
        await asyncio.to_thread(self._emitter.close)
        await asyncio.to_thread(self._truth.close)
        return {**self._emitter.counts(), "faults": self._truth.counts()["emitted"]}


class RayReplica:
    """A replica actor seen through the `Replica` protocol."""

    def __init__(self, actor: ActorHandle) -> None:
        self._actor = actor

    async def create(self, request: UserRequest) -> str:
        answer = await self._actor.create.remote(request)
        if "error" in answer:
            raise ValueError(answer["error"])
        return str(answer["user_id"])

    async def show(self, user_id: str) -> dict[str, Any] | None:
        shown: dict[str, Any] | None = await self._actor.show.remote(user_id)
        return shown

    async def close(self, user_id: str) -> bool:
        return bool(await self._actor.close.remote(user_id))

    async def listing(self, offset: int, limit: int) -> dict[str, Any]:
        listed: dict[str, Any] = await self._actor.listing.remote(offset, limit)
        return listed

    async def stop(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = await self._actor.stop.remote()
        ray.kill(self._actor)
        return counts


@ray.remote(max_restarts=0)
class UsersFront:
    """Serves the user API and spreads users over replicas it creates through Ray."""

    def __init__(self, settings: Settings, clock: SiteClock, router_url: str) -> None:
        self._settings = settings
        self._clock = clock
        self._router_url = router_url
        self._replicas = ReplicaSet(self._spawn, settings.users.per_replica)
        self._runner: web.AppRunner | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def _spawn(self, index: int) -> RayReplica:
        actor = UserReplicaActor.options(  # type: ignore[attr-defined]
            name=f"streamsim-users-{index}",
            num_cpus=self._settings.users.cpus_per_replica,
        ).remote(self._settings, self._clock, self._router_url, index)
        await actor.start.remote()
        return RayReplica(actor)

    async def start(self) -> str:
        """Serve, with one replica ready so the first user does not wait for a new actor."""
        load_model(self._settings.users.model_file)  # a broken model fails the start, loudly
        await self._replicas.ensure_one()
        self._refresher = asyncio.get_running_loop().create_task(self._refresh())
        users = self._settings.users
        self._runner, port = await serve(user_app(self._replicas), users.host, users.port)
        return f"http://{users.host}:{port}"

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._settings.users.refresh_s)
            try:
                await self._replicas.refresh()
            except Exception:  # a failed check must not end the checks
                log.exception("could not refresh the user replicas")

    async def describe(self) -> dict[str, Any]:
        return await self._replicas.list_users(0, 0)

    async def stop(self) -> list[dict[str, dict[str, int]]]:
        """Stop serving, close every browser on every replica, and return their counts."""
        if self._refresher is not None:
            self._refresher.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        return await self._replicas.stop()
