"""The long-lived orchestrator: spawns users on the wave through the user service."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import aiohttp

from streamsim.clock import SiteClock
from streamsim.events import EventType, Source, new_event
from streamsim.orchestrator.live import (
    LIVE_FIELDS,
    SettingsStore,
    apply_change,
    changed_fields,
)
from streamsim.orchestrator.wave import LiveWave, Wave
from streamsim.settings import OrchestratorSettings, WaveSettings

log = logging.getLogger(__name__)

TICK_S = 0.1  # real seconds between two looks at the wave, at the longest
MIN_SLEEP_S = 0.001  # at high rates, wake no more often than this; arrivals then batch
METER_WINDOW_S = 5.0  # real seconds over which the achieved rate is measured


def shape_of(wave: WaveSettings) -> Wave:
    return Wave(wave.max_rate, wave.period_s, wave.floor)


class RateMeter:
    """Requested and achieved users per site second over the last few real seconds."""

    def __init__(self, window_s: float = METER_WINDOW_S) -> None:
        self._window_s = window_s
        self._samples: deque[tuple[float, float, float, int]] = deque()

    def record(self, site_now: float, requested_total: float, created_total: int) -> None:
        real_now = time.monotonic()
        self._samples.append((real_now, site_now, requested_total, created_total))
        while len(self._samples) > 2 and real_now - self._samples[1][0] >= self._window_s:
            self._samples.popleft()

    def rates(self) -> tuple[float | None, float | None]:
        """(requested, achieved) means over the window; None until two samples exist."""
        if len(self._samples) < 2:
            return None, None
        _, site0, requested0, created0 = self._samples[0]
        _, site1, requested1, created1 = self._samples[-1]
        span = site1 - site0
        if span <= 0:
            return None, None
        return (requested1 - requested0) / span, (created1 - created0) / span


class Orchestrator:
    """Creates users at the wave's rate, never with more than `max_in_flight` requests open.

    Arrivals follow the time-rescaling of a Poisson process: the next user arrives when the
    wave's integral since the last one reaches an Exp(1) draw (or exactly 1 for even
    spacing). That holds whatever the shape does in between, including live changes.
    """

    def __init__(
        self,
        config: OrchestratorSettings,
        clock: SiteClock,
        users_url: str,
        emit: Callable[[dict[str, Any]], None],
        run_id: str,
        seed: int | None = None,
        *,
        wave: WaveSettings | None = None,
        store: SettingsStore | None = None,
    ) -> None:
        self.config = config
        self.wave = wave or WaveSettings.model_validate(config.model_dump(include=set(LIVE_FIELDS)))
        self._clock = clock
        self._users_url = users_url
        self._emit = emit
        self._run_id = run_id
        self._store = store
        self._rng = random.Random(seed)
        self.started_at = clock.now()
        self._live = LiveWave(shape_of(self.wave), self.started_at)
        self._until_next = self._gap()
        self._in_flight: set[asyncio.Task[None]] = set()
        self.counts: Counter[str] = Counter()
        self.requested_total = 0.0
        self.meter = RateMeter()

    def _gap(self) -> float:
        """How much of the wave's integral passes before the next user arrives."""
        return 1.0 if self.wave.arrivals == "even" else self._rng.expovariate(1.0)

    def announce(self) -> None:
        """The settings in force at start are a change from nothing, for the timeline."""
        for name in LIVE_FIELDS:
            self._emit_change(name, None, getattr(self.wave, name))

    def _emit_change(self, setting: str, old: Any, new: Any) -> None:
        self._emit(
            new_event(
                EventType.SETTINGS_CHANGED,
                Source.ORCHESTRATOR,
                site_time=self._clock.now(),
                run_id=self._run_id,
                setting=setting,
                old_value=old,
                new_value=new,
            )
        )

    def change(self, change: Any, *, whole: bool = False) -> WaveSettings:
        """Check, keep, apply and announce a change; RefusedChange leaves everything as it was.

        The new settings are saved before they are applied, so what runs is never ahead of
        what a restart would bring back.
        """
        new = apply_change(self.wave, change, whole=whole)
        if self._store is not None:
            self._store.save(new)
        old, self.wave = self.wave, new
        self._live.retune(shape_of(new), self._clock.now())
        for name, before, after in changed_fields(old, new):
            log.info("setting %s changed from %s to %s", name, before, after)
            self._emit_change(name, before, after)
        return new

    async def spawn_forever(self, http: aiohttp.ClientSession) -> None:
        while True:
            await asyncio.sleep(self._next_sleep())
            self.spawn_due(http)

    def _next_sleep(self) -> float:
        """Sleep until the next arrival is due, as far as the current rate tells."""
        rate = self._live.rate()
        if rate <= 0:
            return TICK_S
        due_in = self._clock.real_seconds(max(0.0, self._until_next) / rate)
        return min(TICK_S, max(MIN_SLEEP_S, due_in))

    def spawn_due(self, http: aiohttp.ClientSession) -> None:
        now = self._clock.now()
        owed = self._live.take_users(now)
        self.requested_total += owed
        self._until_next -= owed
        while self._until_next <= 0:
            self._launch(http)
            self._until_next += self._gap()
        self.meter.record(now, self.requested_total, self.counts["created"])

    def _launch(self, http: aiohttp.ClientSession) -> None:
        self.counts["arrivals"] += 1
        if len(self._in_flight) >= self.config.max_in_flight:
            self.counts["skipped_in_flight_full"] += 1
            return
        task = asyncio.get_running_loop().create_task(self._create_user(http))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _create_user(self, http: aiohttp.ClientSession) -> None:
        body = {"error_factor": self.wave.error_factor}  # the factor in force at creation
        try:
            async with http.post(f"{self._users_url}/users", json=body) as answer:
                self.counts["created" if answer.status == 201 else "refused"] += 1
        except (aiohttp.ClientError, TimeoutError) as error:
            self.counts["failed"] += 1
            log.debug("could not create a user: %s", error)

    async def settle(self, timeout_s: float = 15.0) -> None:
        """Let requests already sent finish, so the final counts include them."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout_s)

    def wave_elapsed(self) -> float:
        """Site seconds of the wave the spawner has accounted for so far."""
        return self._live.at - self.started_at

    def in_flight(self) -> int:
        return len(self._in_flight)

    def describe(self) -> dict[str, Any]:
        self._live.advance(self._clock.now())  # the rate now, not at the spawner's last look
        requested_mean, achieved = self.meter.rates()
        return {
            "requested_rate": round(self._live.rate(), 4),
            "requested_rate_mean": rounded(requested_mean),
            "achieved_rate": rounded(achieved),
            "phase": round(self._live.phase, 5),
            "wave": self.wave.model_dump(),
            "in_flight": self.in_flight(),
            "max_in_flight": self.config.max_in_flight,
            "counts": dict(self.counts),
        }


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
