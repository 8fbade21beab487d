"""Whether a stack held its load: the lag's trend and the freshness of what it published.

Kept apart from the sampling so the rules can be tested on made-up series. A sink that keeps
up still shows a saw-tooth lag (it commits once per batch), so "bounded" is judged on the
trend of the last half of a run, not on any single sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# The sink may fall behind by this share of what arrives and still count as keeping up:
# below it, a ten-minute run cannot tell a slow drift from the saw-tooth's noise.
LAG_GROWTH_LIMIT = 0.02
# A lag this many seconds of arrivals behind is kept up with, whatever its trend: while users
# are still accumulating, the arrival rate, and with it a keeping-up sink's lag, still grows.
LAG_SECONDS_KEPT_UP = 10.0
FRESHNESS_GOAL_S = 60.0


@dataclass(frozen=True)
class LagPoint:
    """The sink group's total lag over every event topic at one moment of the run."""

    at_s: float
    lag: int


@dataclass(frozen=True)
class Publication:
    """One `ops.freshness` row: how fresh the events one serving copy added were."""

    at_s: float
    events: int
    p50_s: float
    p95_s: float


def slope(points: Sequence[LagPoint]) -> float:
    """Least-squares growth of the lag, in events per second; 0 with fewer than two times."""
    if len(points) < 2:
        return 0.0
    mean_t = sum(p.at_s for p in points) / len(points)
    mean_lag = sum(p.lag for p in points) / len(points)
    spread = sum((p.at_s - mean_t) ** 2 for p in points)
    if spread == 0:
        return 0.0
    return sum((p.at_s - mean_t) * (p.lag - mean_lag) for p in points) / spread


def last_half(points: Sequence[LagPoint]) -> list[LagPoint]:
    """The samples of the second half of the time the points span."""
    if not points:
        return []
    middle = (points[0].at_s + points[-1].at_s) / 2
    return [p for p in points if p.at_s >= middle]


def lag_verdict(
    points: Sequence[LagPoint], events_per_s: float, limit: float = LAG_GROWTH_LIMIT
) -> dict[str, Any]:
    """Bounded when, over the last half, the lag grew slower than `limit` of the arrivals,
    or never passed LAG_SECONDS_KEPT_UP seconds of them."""
    judged = last_half(points)
    growth = slope(judged)
    allowed = limit * max(events_per_s, 0.0)
    highest = max((p.lag for p in judged), default=0)
    kept_up = highest <= LAG_SECONDS_KEPT_UP * max(events_per_s, 0.0)
    enough = len(judged) >= 3
    return {
        "bounded": enough and (growth <= allowed or kept_up),
        "growth_events_per_s": round(growth, 2),
        "allowed_growth_events_per_s": round(allowed, 2),
        "seconds_behind_max": round(highest / events_per_s, 1) if events_per_s > 0 else None,
        "rule": f"over the last half of the samples (at least 3), the least-squares slope of "
        f"the total lag is at most {limit:.0%} of the events arriving per second, or the lag "
        f"never passed {LAG_SECONDS_KEPT_UP:g} s of arrivals",
        "samples_judged": len(judged),
        "lag_at_end": judged[-1].lag if judged else None,
        "lag_max": highest if judged else None,
    }


def weighted_median(values: Sequence[tuple[float, int]]) -> float | None:
    """The value at half the total weight; each value counts as many times as its weight."""
    ordered = sorted((v, w) for v, w in values if w > 0)
    total = sum(w for _, w in ordered)
    if total == 0:
        return None
    running = 0
    for value, weight in ordered:
        running += weight
        if running * 2 >= total:
            return value
    return ordered[-1][0]


def freshness_verdict(
    publications: Sequence[Publication], goal_s: float = FRESHNESS_GOAL_S
) -> dict[str, Any]:
    """p95 is bounded by the worst publication's: if no copy had more than 5% of its events
    later than the goal, the whole run had none either. p50 is their event-weighted median."""
    counted = [p for p in publications if p.events > 0]
    if not counted:
        return {"met": False, "publications": 0, "events": 0, "p50_s": None, "p95_s": None}
    p95 = max(p.p95_s for p in counted)
    return {
        "met": p95 < goal_s,
        "goal_s": goal_s,
        "publications": len(counted),
        "events": sum(p.events for p in counted),
        "p50_s": round(weighted_median([(p.p50_s, p.events) for p in counted]) or 0.0, 1),
        "p95_s": round(p95, 1),
        "p95_rule": "worst p95 of any publication: an upper bound of the run's p95",
    }


def highest_sustained(steps: Sequence[dict[str, Any]]) -> float | None:
    """The largest peak of the ramp's steps before the first one whose lag was not bounded."""
    best = None
    for step in steps:
        if not step["lag"]["bounded"]:
            break
        best = step["peak"]
    return best
