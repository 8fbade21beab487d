"""The user service as a process of its own, for tests that must reach it over HTTP.

Run as `python -m users.served_users <port> <router port>` from the tests folder. It is the
front `streamsim up` runs (the same app over a set of replicas, spilling users into a new
replica when one is full), with the replicas held in this process instead of in Ray actors:
on a machine as loaded as the test runner's, a Ray head alone can take most of a test's
budget to start. Events are only counted; the router port may have nobody behind it, which
users survive as they would a router that went away.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from typing import Any

import aiohttp

from streamsim.clock import SiteClock
from streamsim.users.api import user_app
from streamsim.users.player import Player
from streamsim.users.replicas import Replica, ReplicaSet
from streamsim.users.service import UserService
from streamsim.webserve import serve

from .local_replica import LocalReplica

USERS_PER_REPLICA = 5  # small, so a fuzzer's creations spread users over several replicas


class ServedReplica(LocalReplica):
    """A replica that reports what its users emitted when stopped, as a Ray replica does."""

    async def stop(self) -> dict[str, Any]:
        await self.service.close_all(timeout_s=10)
        return {"emitted": self.service.listing().get("emitted", {})}


async def serve_users(port: int, router_url: str) -> None:
    emitted: Counter[str] = Counter()

    def emit(event: dict[str, Any]) -> None:
        emitted[str(event.get("event_type"))] += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:

        async def spawn(index: int) -> Replica:
            service = UserService(
                clock=SiteClock.starting_now(1.0),
                player=Player(http, router_url),
                emit=emit,
                heartbeat_s=10.0,
                run_id="served-users",
                seed=index,
                id_prefix=f"u{index}",
                emitted=lambda: dict(emitted),
            )
            return ServedReplica(service)

        replicas = ReplicaSet(spawn, USERS_PER_REPLICA)
        await replicas.ensure_one()
        runner, _ = await serve(user_app(replicas), "127.0.0.1", port)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()
        await replicas.stop()


if __name__ == "__main__":
    asyncio.run(serve_users(int(sys.argv[1]), f"http://127.0.0.1:{sys.argv[2]}"))
