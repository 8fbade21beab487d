"""Site time: the simulated clock that runs `speed` times faster than the real one."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class SiteClock:
    """Every process of one run shares `origin`, so their site times agree.

    At `origin` (a Unix time) site time equals real time; from then on it runs `speed`
    times faster. All behaviour durations are in site seconds and pass through here.
    """

    speed: float
    origin: float

    @classmethod
    def starting_now(cls, speed: float) -> SiteClock:
        return cls(speed=speed, origin=time.time())

    @classmethod
    def for_run(cls, speed: float, origin: float | None) -> SiteClock:
        """The run's shared clock, or a fresh one for a process started on its own."""
        return cls(speed=speed, origin=time.time() if origin is None else origin)

    def now(self) -> float:
        return self.origin + (time.time() - self.origin) * self.speed

    def real_seconds(self, site_seconds: float) -> float:
        return site_seconds / self.speed

    async def sleep(self, site_seconds: float) -> None:
        await asyncio.sleep(max(0.0, site_seconds) / self.speed)
