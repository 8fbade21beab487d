"""The arrival rate of new users over site time, and Poisson arrivals that follow it."""

from __future__ import annotations

import math
from dataclasses import dataclass

TWO_PI = 2.0 * math.pi


@dataclass(frozen=True)
class Wave:
    """Rate goes from `floor` up to `max_rate` and back over each `period_s` of site time.

    It starts at its lowest point, so a run begins with very few users and ramps up.
    """

    max_rate: float
    period_s: float
    floor: float = 0.0

    def rate(self, t_s: float) -> float:
        """New users per site second at `t_s` site seconds after the wave began."""
        return self.rate_at_phase(self.phase(t_s))

    def phase(self, t_s: float) -> float:
        return TWO_PI * t_s / self.period_s

    def rate_at_phase(self, phase: float) -> float:
        """The rate where the wave's cycle stands: phase 0 is the floor, pi the peak."""
        swing = (1.0 - math.cos(phase)) / 2.0
        return self.floor + (self.max_rate - self.floor) * swing

    def expected_users(self, t0_s: float, t1_s: float) -> float:
        """The integral of the rate over [t0, t1]: how many users should arrive."""
        return self.users_over(self.phase(t0_s), t1_s - t0_s)

    def users_over(self, phase0: float, span_s: float) -> float:
        """The integral of the rate over `span_s` site seconds starting at `phase0`."""
        omega = TWO_PI / self.period_s
        phase1 = phase0 + omega * span_s
        swing = (span_s - (math.sin(phase1) - math.sin(phase0)) / omega) / 2.0
        return self.floor * span_s + (self.max_rate - self.floor) * swing


class LiveWave:
    """The wave as it runs, its shape changeable at any moment without a jump in the rate.

    It keeps the phase, the integral of 2 pi / period over site time, rather than computing
    it from t / period: a new period then only changes how fast the phase moves on from
    where it stands, so the rate stays continuous. A new maximum or floor does move the
    rate at once, as asked.
    """

    def __init__(self, shape: Wave, site_now: float) -> None:
        self.shape = shape
        self.phase = 0.0
        self.at = site_now
        self.pending_users = 0.0  # the integral since the spawner last took it

    def advance(self, site_now: float) -> None:
        span = max(0.0, site_now - self.at)
        self.pending_users += self.shape.users_over(self.phase, span)
        self.phase = (self.phase + TWO_PI * span / self.shape.period_s) % TWO_PI
        self.at = max(self.at, site_now)

    def retune(self, shape: Wave, site_now: float) -> None:
        """The old shape holds up to now, the new one from now on."""
        self.advance(site_now)
        self.shape = shape

    def take_users(self, site_now: float) -> float:
        """How many users the wave asked for since the last call."""
        self.advance(site_now)
        owed, self.pending_users = self.pending_users, 0.0
        return owed

    def rate(self) -> float:
        return self.shape.rate_at_phase(self.phase)
