"""Placing users on replicas: fill the first with room, add one when all are full.

Packing (rather than spreading) keeps the number of replicas as small as the load allows,
so a replica that empties can be retired. A user id starts with `u<replica>-`, so a request
for one user goes straight to its holder without a table that would grow with every user.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from streamsim.users.service import UserRequest

log = logging.getLogger(__name__)

_HOLDER = re.compile(r"^u(\d{1,9})-")  # a replica number; longer is no id of ours


class Replica(Protocol):
    """One replica's users, wherever it runs (a Ray actor, or in-process in tests)."""

    async def create(self, request: UserRequest) -> str: ...

    async def show(self, user_id: str) -> dict[str, Any] | None: ...

    async def close(self, user_id: str) -> bool: ...

    async def listing(self, offset: int, limit: int) -> dict[str, Any]: ...

    async def stop(self) -> dict[str, Any]: ...


Spawn = Callable[[int], Awaitable[Replica]]


@dataclass
class Held:
    index: int
    replica: Replica
    active: int = 0
    pending: int = 0  # creations placed here and not yet answered


class ReplicaSet:
    """The front's view of its replicas; implements the HTTP layer's UserDirectory."""

    def __init__(self, spawn: Spawn, per_replica: int) -> None:
        self._spawn = spawn
        self._per_replica = per_replica
        self._held: dict[int, Held] = {}
        self._next_index = 1
        self._lock = asyncio.Lock()  # placement and retirement must not interleave
        self.retired_counts: list[dict[str, Any]] = []

    def replicas(self) -> int:
        return len(self._held)

    async def ensure_one(self) -> None:
        async with self._lock:
            if not self._held:
                await self._add()

    async def create_user(self, request: UserRequest) -> str:
        async with self._lock:
            held = next((h for h in self._held.values() if h.active < self._per_replica), None)
            if held is None:
                held = await self._add()
            held.active += 1
            held.pending += 1
        try:
            return await held.replica.create(request)
        except Exception:
            held.active -= 1  # refused or failed: no user was placed there
            raise
        finally:
            held.pending -= 1

    async def _add(self) -> Held:
        index, self._next_index = self._next_index, self._next_index + 1
        held = Held(index, await self._spawn(index))
        self._held[index] = held
        log.info("user replica %d added (%d in all)", index, len(self._held))
        return held

    def _holder(self, user_id: str) -> Held | None:
        match = _HOLDER.match(user_id)
        return self._held.get(int(match.group(1))) if match else None

    async def show_user(self, user_id: str) -> dict[str, Any] | None:
        held = self._holder(user_id)
        return await held.replica.show(user_id) if held else None

    async def close_user(self, user_id: str) -> bool:
        held = self._holder(user_id)
        return await held.replica.close(user_id) if held else False

    def active_users(self) -> int:
        return sum(held.active for held in self._held.values())

    async def list_users(self, offset: int, limit: int) -> dict[str, Any]:
        """Merged counts of every replica, and one page of users across them in order."""
        held = sorted(self._held.values(), key=lambda h: h.index)
        listings = await asyncio.gather(*(h.replica.listing(0, offset + limit) for h in held))
        for one, listing in zip(held, listings, strict=True):
            one.active = int(listing["active"])
        merged: dict[str, Any] = {
            "active": sum(int(x["active"]) for x in listings),
            "replicas": len(held),
        }
        for key in ("by_state", "by_action", "totals", "emitted"):
            merged[key] = dict(sum((Counter(x.get(key, {})) for x in listings), Counter()))
        retired = (Counter(counts.get("emitted", {})) for counts in self.retired_counts)
        merged["emitted"] = dict(sum(retired, Counter(merged["emitted"])))
        users = [user for listing in listings for user in listing["users"]]
        merged["users"] = users[offset : offset + limit]
        return merged

    async def refresh(self) -> None:
        """Learn each replica's load, and retire those left empty (never the first).

        An empty-looking replica is asked again under the lock, with nothing in flight to
        it, so a user created just after the first answer is never retired with it.
        """
        await self.list_users(0, 0)
        async with self._lock:
            first = min(self._held, default=0)
            for held in list(self._held.values()):
                if held.index == first or held.active > 0 or held.pending > 0:
                    continue
                if (await held.replica.listing(0, 0))["active"] == 0:
                    del self._held[held.index]
                    self.retired_counts.append(await held.replica.stop())
                    log.info("user replica %d retired (%d left)", held.index, len(self._held))

    async def stop(self) -> list[dict[str, Any]]:
        """Stop every replica; the counts of all that ever ran, retired ones included."""
        async with self._lock:
            held, self._held = list(self._held.values()), {}
        stopped = await asyncio.gather(*(h.replica.stop() for h in held))
        return [*self.retired_counts, *stopped]
