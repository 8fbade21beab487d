"""The users of one replica: each created by one call, living as its own asyncio task."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from streamsim.clock import SiteClock
from streamsim.users.catalogue import Catalogue
from streamsim.users.faults import FaultKind, FaultOutlet
from streamsim.users.model import BehaviourModel, load_model
from streamsim.users.player import Player
from streamsim.users.traits import TraitChoices
from streamsim.users.user import SimulatedUser, Step

log = logging.getLogger(__name__)

# Paging of GET /users.
MAX_PAGE = 1000
MAX_OFFSET = 100_000_000  # far beyond any run; a bigger number is a mistake, not a page

Emitted = Callable[[], dict[str, int]]


class UserRequest(BaseModel):
    """The optional body of POST /users: fix the user's seed or traits."""

    model_config = ConfigDict(extra="forbid")

    seed: int | None = Field(default=None, ge=0, lt=2**63)
    error_factor: float = Field(
        default=0.0, ge=0, le=1, description="Share of this user's messages to break."
    )
    traits: TraitChoices | None = None


class UserService:
    """Holds the running users of one replica; users share nothing but the wire.

    A user id starts with `id_prefix`, which the front of several replicas reads to find
    the replica that holds it.
    """

    def __init__(
        self,
        *,
        clock: SiteClock,
        player: Player,
        emit: Callable[[dict[str, Any]], None],
        heartbeat_s: float,
        run_id: str,
        seed: int | None = None,
        model: BehaviourModel | None = None,
        id_prefix: str = "u",
        emitted: Emitted | None = None,
        faults: FaultOutlet | None = None,
        fault_weights: Mapping[FaultKind, float] | None = None,
        on_step: Step | None = None,
    ) -> None:
        self._clock, self._player, self._emit = clock, player, emit
        self._heartbeat_s, self._run_id = heartbeat_s, run_id
        self.model = model or load_model()
        self.catalogue = Catalogue(self.model.catalogue)
        self._seeds = random.Random(seed)
        self._numbers = itertools.count(1)
        self._prefix = id_prefix
        self._emitted = emitted
        self._faults, self._fault_weights = faults, fault_weights
        self._on_step = on_step
        self._users: dict[str, tuple[SimulatedUser, asyncio.Task[None]]] = {}
        self.totals: Counter[str] = Counter()

    def create(self, request: UserRequest | None = None) -> str:
        """A new user, living from now on; ValueError names a trait the model lacks."""
        request = request or UserRequest()
        user_id = f"{self._prefix}-{next(self._numbers)}-{self._seeds.getrandbits(32):08x}"
        drawn_seed = self._seeds.getrandbits(63)
        user = SimulatedUser(
            user_id,
            drawn_seed if request.seed is None else request.seed,
            model=self.model,
            catalogue=self.catalogue,
            clock=self._clock,
            player=self._player,
            emit=self._emit,
            heartbeat_s=self._heartbeat_s,
            run_id=self._run_id,
            traits=request.traits,
            error_factor=request.error_factor,
            faults=self._faults,
            fault_weights=self._fault_weights,
            on_step=self._on_step,
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

    def show(self, user_id: str) -> dict[str, Any] | None:
        held = self._users.get(user_id)
        return held[0].describe() if held else None

    async def close(self, user_id: str, timeout_s: float = 10.0) -> bool:
        """The user closes the browser now; False if no such user lives here."""
        held = self._users.get(user_id)
        if held is None:
            return False
        held[1].cancel()
        await asyncio.wait([held[1]], timeout=timeout_s)
        return True

    def listing(self, offset: int = 0, limit: int = 0) -> dict[str, Any]:
        """Counts by state and action, totals, and one page of users in creation order."""
        users = [user for user, _ in self._users.values()]
        page = itertools.islice(users, offset, offset + limit)
        listed: dict[str, Any] = {
            "active": len(users),
            "by_state": dict(Counter(user.state for user in users)),
            "by_action": dict(Counter(user.action for user in users)),
            "totals": dict(self.totals),
            "users": [{"user_id": u.user_id, "state": u.state, "action": u.action} for u in page],
        }
        if self._emitted is not None:
            listed["emitted"] = self._emitted()
        return listed

    async def close_all(self, timeout_s: float = 60.0) -> None:
        """Every user closes the browser now: each emits its session end."""
        tasks = [task for _, task in self._users.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
