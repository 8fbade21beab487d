"""How many servers the group should have: the Kubernetes HPA rule, as a pure function.

The Horizontal Pod Autoscaler sizes a deployment from the ratio of a metric to its target:

    desired = ceil(current * current_metric / target_metric)

and hedges that ratio in three ways, each kept here under the same name:

- tolerance: when the ratio is within 1 ± tolerance, nothing changes, so noise in the
  metric does not make the group flap;
- stabilisation window: a scale-in applies the *highest* recommendation made over the last
  window, so a dip must last the whole window before servers go (scale-out has no window,
  as in the HPA's defaults: growing late costs viewers, shrinking late costs only money);
- rate policies: at most so many servers added, or removed, within a rate period.

Our metric is utilisation: streams held by the serving (not draining) servers over their
capacity. One rule of ours comes on top of the HPA's: the group scales in only while
utilisation is below a low-water mark, which widens the band in which it holds still.
Counts are clamped to [min, max] servers last, as the HPA clamps to min/max replicas.

Everything here is a function of its arguments; the caller keeps the history.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why a decision came out as it did; carried by every `scaling_decided` event."""

    BELOW_MIN = "below_min"
    ABOVE_MAX = "above_max"
    SCALE_UP = "scale_up"
    SCALE_UP_RATE_LIMITED = "scale_up_rate_limited"
    AT_MAX = "at_max"
    WITHIN_TOLERANCE = "within_tolerance"
    ABOVE_LOW_WATER = "above_low_water"
    STABILISING = "stabilising"
    SCALE_DOWN = "scale_down"
    SCALE_DOWN_RATE_LIMITED = "scale_down_rate_limited"
    AT_MIN = "at_min"
    ROUNDS_TO_CURRENT = "rounds_to_current"


@dataclass(frozen=True)
class Policy:
    """The knobs of the rule; durations are in site seconds."""

    target_utilisation: float = 0.8
    tolerance: float = 0.1
    low_water_utilisation: float = 0.6
    min_servers: int = 1
    max_servers: int = 10
    scale_down_window_s: float = 120.0
    rate_period_s: float = 15.0
    scale_up_max_step: int = 2
    scale_down_max_step: int = 1


@dataclass(frozen=True)
class Load:
    """What the group sees at one moment.

    `servers` is the group's size as last set, like the HPA's current replica count: a
    server that is starting, or replacing a lost one, counts. `utilisation` is measured on
    the servers that serve now.
    """

    at_s: float
    servers: int
    utilisation: float

    @classmethod
    def of(cls, at_s: float, servers: int, streams: int, capacity: int) -> Load:
        """The load of `servers` serving servers holding `streams` between them."""
        return cls(at_s, servers, streams / (servers * capacity) if servers else 0.0)


@dataclass(frozen=True)
class Recommendation:
    """What the ratio alone asked for at one moment; the window looks back over these."""

    at_s: float
    servers: int


@dataclass(frozen=True)
class Change:
    """A change the group made (+n grown, -n shrunk); rate policies look back over these."""

    at_s: float
    delta: int


@dataclass(frozen=True)
class Decision:
    current: int
    desired: int
    utilisation: float
    reason: Reason
    recommendation: Recommendation  # for the caller to keep, so later windows see it

    @property
    def delta(self) -> int:
        return self.desired - self.current


def decide(
    load: Load,
    recommendations: Sequence[Recommendation],
    changes: Sequence[Change],
    policy: Policy,
) -> Decision:
    """The number of servers to run now, with the reason, from the load and recent history."""
    utilisation = load.utilisation
    raw = _recommend(load, policy)
    recommendation = Recommendation(load.at_s, raw)

    def decision(desired: int, reason: Reason) -> Decision:
        return Decision(load.servers, desired, round(utilisation, 4), reason, recommendation)

    if load.servers < policy.min_servers:
        return decision(policy.min_servers, Reason.BELOW_MIN)
    if load.servers > policy.max_servers:
        return decision(policy.max_servers, Reason.ABOVE_MAX)
    if raw > load.servers:
        return decision(*_scale_up(load, raw, changes, policy))
    if raw < load.servers:
        return decision(*_scale_down(load, raw, recommendations, changes, policy))
    return decision(load.servers, _hold_reason(load, policy))


def _recommend(load: Load, policy: Policy) -> int:
    """The HPA ratio rule with its tolerance, our low-water mark, and min/max clamps."""
    if load.servers == 0:
        return policy.min_servers
    ratio = load.utilisation / policy.target_utilisation
    if abs(ratio - 1.0) <= policy.tolerance:
        return load.servers
    if ratio < 1.0 and load.utilisation >= policy.low_water_utilisation:
        return load.servers
    # A hair of slack keeps float error (0.8 / 0.8 = 1.0000000000000002) from adding one.
    wanted = math.ceil(load.servers * ratio - 1e-9)
    return min(policy.max_servers, max(policy.min_servers, wanted))


def _hold_reason(load: Load, policy: Policy) -> Reason:
    """Why the ratio rule kept the current count."""
    ratio = load.utilisation / policy.target_utilisation
    if ratio > 1.0 + policy.tolerance:
        return Reason.AT_MAX
    if abs(ratio - 1.0) <= policy.tolerance:
        return Reason.WITHIN_TOLERANCE
    if load.utilisation >= policy.low_water_utilisation:
        return Reason.ABOVE_LOW_WATER
    return Reason.AT_MIN if load.servers <= policy.min_servers else Reason.ROUNDS_TO_CURRENT


def _moved(changes: Sequence[Change], now_s: float, period_s: float, sign: int) -> int:
    """Servers added (sign 1) or removed (sign -1) within the rate period before now."""
    return sum(abs(c.delta) for c in changes if now_s - c.at_s < period_s and c.delta * sign > 0)


def _scale_up(
    load: Load, raw: int, changes: Sequence[Change], policy: Policy
) -> tuple[int, Reason]:
    room = policy.scale_up_max_step - _moved(changes, load.at_s, policy.rate_period_s, 1)
    step = max(0, min(raw - load.servers, room))
    reason = Reason.SCALE_UP if step == raw - load.servers else Reason.SCALE_UP_RATE_LIMITED
    return load.servers + step, reason


def _scale_down(
    load: Load,
    raw: int,
    recommendations: Sequence[Recommendation],
    changes: Sequence[Change],
    policy: Policy,
) -> tuple[int, Reason]:
    """Shrink only to the highest count recommended over the window, and only so fast."""
    window = [r.servers for r in recommendations if load.at_s - r.at_s < policy.scale_down_window_s]
    stable = max([raw, *window])
    if stable >= load.servers:
        return load.servers, Reason.STABILISING
    room = policy.scale_down_max_step - _moved(changes, load.at_s, policy.rate_period_s, -1)
    step = max(0, min(load.servers - stable, room))
    reason = Reason.SCALE_DOWN if step == load.servers - stable else Reason.SCALE_DOWN_RATE_LIMITED
    return load.servers - step, reason
