"""The long-lived orchestrator: spawns users on the wave through the user service."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from streamsim.clock import SiteClock
from streamsim.events import EventType, Source, new_event
from streamsim.orchestrator.wave import Wave, poisson
from streamsim.settings import OrchestratorSettings

log = logging.getLogger(__name__)

TICK_S = 0.1  # real seconds between two looks at the wave


class Orchestrator:
    """Creates users at the wave's rate, never with more than `max_in_flight` requests open."""

    def __init__(
        self,
        config: OrchestratorSettings,
        clock: SiteClock,
        users_url: str,
        emit: Callable[[dict[str, Any]], None],
        run_id: str,
        seed: int | None = None,
    ) -> None:
        self.config = config
        self._wave = Wave(config.max_rate, config.period_s, config.floor)
        self._clock = clock
        self._users_url = users_url
        self._emit = emit
        self._run_id = run_id
        self._rng = random.Random(seed)
        self._in_flight: set[asyncio.Task[None]] = set()
        self.counts: Counter[str] = Counter()
        self._started_at = clock.now()

    def announce(self) -> None:
        """The settings in force at start are a change from nothing, for the timeline."""
        for name in ("max_rate", "period_s", "floor", "error_factor"):
            self._emit(
                new_event(
                    EventType.SETTINGS_CHANGED,
                    Source.ORCHESTRATOR,
                    site_time=self._clock.now(),
                    run_id=self._run_id,
                    setting=name,
                    old_value=None,
                    new_value=getattr(self.config, name),
                )
            )

    def wave_time(self) -> float:
        return self._clock.now() - self._started_at

    async def spawn_forever(self, http: aiohttp.ClientSession) -> None:
        previous = self.wave_time()
        while True:
            await asyncio.sleep(TICK_S)
            now = self.wave_time()
            arrivals = poisson(self._rng, self._wave.expected_users(previous, now))
            previous = now
            for _ in range(arrivals):
                self._launch(http)

    def _launch(self, http: aiohttp.ClientSession) -> None:
        if len(self._in_flight) >= self.config.max_in_flight:
            self.counts["skipped_in_flight_full"] += 1
            return
        task = asyncio.get_running_loop().create_task(self._create_user(http))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _create_user(self, http: aiohttp.ClientSession) -> None:
        try:
            async with http.post(f"{self._users_url}/users") as answer:
                self.counts["created" if answer.status == 201 else "refused"] += 1
        except (aiohttp.ClientError, TimeoutError) as error:
            self.counts["failed"] += 1
            log.debug("could not create a user: %s", error)

    async def settle(self, timeout_s: float = 15.0) -> None:
        """Let requests already sent finish, so the final counts include them."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout_s)

    def describe(self) -> dict[str, Any]:
        t = self.wave_time()
        return {
            "wave_time_s": round(t, 3),
            "requested_rate": round(self._wave.rate(t), 4),
            "in_flight": len(self._in_flight),
            "counts": dict(self.counts),
        }


def orchestrator_app(orchestrator: Orchestrator) -> web.Application:
    async def config(_: web.Request) -> web.Response:
        return web.json_response(orchestrator.config.model_dump())

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(orchestrator.describe())

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/api/config", config)
    app.router.add_get("/api/stats", stats)
    app.router.add_get("/health", health)
    return app
