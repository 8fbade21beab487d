"""The user service: creates one simulated user per call and lets it live on its own."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from streamsim.clock import SiteClock
from streamsim.users.behaviour import Behaviour, SimulatedUser
from streamsim.users.catalogue import Catalogue
from streamsim.users.player import Player

log = logging.getLogger(__name__)


class UserService:
    """Holds the running users; each is an asyncio task with nothing shared but the wire."""

    def __init__(
        self,
        *,
        clock: SiteClock,
        player: Player,
        emit: Callable[[dict[str, Any]], None],
        heartbeat_s: float,
        run_id: str,
        seed: int | None = None,
        behaviour: Behaviour | None = None,
    ) -> None:
        self._clock = clock
        self._player = player
        self._emit = emit
        self._heartbeat_s = heartbeat_s
        self._run_id = run_id
        self._behaviour = behaviour or Behaviour()
        self._catalogue = Catalogue()
        self._seeds = random.Random(seed)
        self._numbers = itertools.count(1)
        self._users: dict[str, tuple[SimulatedUser, asyncio.Task[None]]] = {}
        self.totals: Counter[str] = Counter()

    def create(self) -> str:
        user_id = f"u-{next(self._numbers)}-{uuid.UUID(int=self._seeds.getrandbits(128)).hex[:8]}"
        user = SimulatedUser(
            user_id,
            self._seeds.getrandbits(64),
            behaviour=self._behaviour,
            catalogue=self._catalogue,
            clock=self._clock,
            player=self._player,
            emit=self._emit,
            heartbeat_s=self._heartbeat_s,
            run_id=self._run_id,
        )
        task = asyncio.get_running_loop().create_task(user.live(), name=user_id)
        self._users[user_id] = (user, task)
        task.add_done_callback(lambda done: self._forget(user_id, done))
        self.totals["created"] += 1
        return user_id

    def _forget(self, user_id: str, task: asyncio.Task[None]) -> None:
        self._users.pop(user_id, None)
        if task.cancelled():
            self.totals["closed_early"] += 1
        elif task.exception() is not None:
            self.totals["failed"] += 1
            log.error("user %s failed: %r", user_id, task.exception())
        else:
            self.totals["finished"] += 1

    def active(self) -> int:
        return len(self._users)

    def describe(self) -> dict[str, Any]:
        actions = Counter(user.state.action.split(" ")[0] for user, _ in self._users.values())
        return {"active": self.active(), "by_action": dict(actions), "totals": dict(self.totals)}

    async def close_all(self, timeout_s: float = 60.0) -> None:
        """Every user closes the browser now: each emits its session end."""
        tasks = [task for _, task in self._users.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)


def user_app(service: UserService) -> web.Application:
    async def create(_: web.Request) -> web.Response:
        return web.json_response({"user_id": service.create()}, status=201)

    async def listing(_: web.Request) -> web.Response:
        return web.json_response(service.describe())

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, "active": service.active()})

    app = web.Application()
    app.router.add_post("/users", create)
    app.router.add_post("/addOneUser", create)  # the name the first design used
    app.router.add_get("/users", listing)
    app.router.add_get("/health", health)
    return app
