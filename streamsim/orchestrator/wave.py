"""The arrival rate of new users over site time, and Poisson arrivals that follow it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


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
        swing = (1.0 - math.cos(2.0 * math.pi * t_s / self.period_s)) / 2.0
        return self.floor + (self.max_rate - self.floor) * swing

    def expected_users(self, t0_s: float, t1_s: float) -> float:
        """The integral of the rate over [t0, t1]: how many users should arrive."""
        span = self.max_rate - self.floor
        omega = 2.0 * math.pi / self.period_s

        def antiderivative(t: float) -> float:
            return self.floor * t + span * (t - math.sin(omega * t) / omega) / 2.0

        return antiderivative(t1_s) - antiderivative(t0_s)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw; the normal approximation serves large means, where it is exact enough."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count
