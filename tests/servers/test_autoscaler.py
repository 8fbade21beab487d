"""The decision rule, on cases drawn from the Kubernetes HPA's algorithm and behaviour."""

from __future__ import annotations

import pytest

from streamsim.servers.autoscaler import (
    Change,
    Load,
    Policy,
    Reason,
    Recommendation,
    decide,
)

POLICY = Policy(
    target_utilisation=0.8,
    tolerance=0.1,
    low_water_utilisation=0.6,
    min_servers=1,
    max_servers=10,
    scale_down_window_s=120.0,
    rate_period_s=15.0,
    scale_up_max_step=4,
    scale_down_max_step=4,
)


def load(servers: int, streams: int, capacity: int = 100, at_s: float = 1000.0) -> Load:
    return Load.of(at_s, servers, streams, capacity)


def test_desired_is_the_ceiling_of_current_times_metric_over_target() -> None:
    # The HPA's own example: metric at twice its target doubles the replicas.
    doubled = decide(load(1, 100), [], [], Policy(target_utilisation=0.5))
    # 3 servers at 95%: ceil(3 * 0.95 / 0.8) = ceil(3.5625) = 4.
    grown = decide(load(3, 285), [], [], POLICY)

    assert (doubled.desired, doubled.reason) == (2, Reason.SCALE_UP)
    assert (grown.desired, grown.utilisation, grown.reason) == (4, 0.95, Reason.SCALE_UP)


def test_metric_at_half_its_target_halves_the_group() -> None:
    decision = decide(load(4, 160), [], [], POLICY)  # 40% against 80%

    assert (decision.desired, decision.reason) == (2, Reason.SCALE_DOWN)


@pytest.mark.parametrize(
    ("streams", "desired", "reason"),
    [
        (80, 1, Reason.WITHIN_TOLERANCE),  # ratio 1.0, exactly on target
        (84, 1, Reason.WITHIN_TOLERANCE),  # ratio 1.05
        (88, 1, Reason.WITHIN_TOLERANCE),  # ratio 1.10: the edge of the tolerance holds
        (89, 2, Reason.SCALE_UP),  # ratio 1.1125
        (73, 1, Reason.WITHIN_TOLERANCE),  # ratio 0.9125
    ],
)
def test_a_ratio_within_the_tolerance_changes_nothing(
    streams: int, desired: int, reason: Reason
) -> None:
    decision = decide(load(1, streams), [], [], POLICY)

    assert (decision.desired, decision.reason) == (desired, reason)


def test_a_second_server_is_wanted_before_the_first_is_full() -> None:
    decision = decide(load(1, 9, capacity=10), [], [], POLICY)

    assert decision.desired == 2


def test_float_error_on_target_does_not_add_a_server() -> None:
    decision = decide(load(5, 400), [], [], Policy(tolerance=0.0))

    assert (decision.desired, decision.reason) == (5, Reason.WITHIN_TOLERANCE)


def test_below_target_but_above_the_low_water_mark_holds() -> None:
    decision = decide(load(4, 260), [], [], POLICY)  # 65%: ratio 0.81, under the tolerance

    assert (decision.desired, decision.reason) == (4, Reason.ABOVE_LOW_WATER)


def test_scale_in_waits_for_the_highest_recommendation_in_the_window() -> None:
    recent = [Recommendation(at_s=950.0, servers=4), Recommendation(at_s=990.0, servers=3)]

    decision = decide(load(4, 100), recent, [], POLICY)  # alone, 25% asks for 2

    assert (decision.desired, decision.reason) == (4, Reason.STABILISING)
    assert decision.recommendation == Recommendation(at_s=1000.0, servers=2)


def test_scale_in_follows_the_window_down_not_past_it() -> None:
    recent = [Recommendation(at_s=900.0, servers=3)]

    decision = decide(load(4, 100), recent, [], POLICY)

    assert (decision.desired, decision.reason) == (3, Reason.SCALE_DOWN)


def test_recommendations_older_than_the_window_are_forgotten() -> None:
    recent = [Recommendation(at_s=870.0, servers=4)]  # 130 s ago, the window is 120 s

    decision = decide(load(4, 100), recent, [], POLICY)

    assert (decision.desired, decision.reason) == (2, Reason.SCALE_DOWN)


def test_scale_out_has_no_window() -> None:
    recent = [Recommendation(at_s=990.0, servers=1)]

    decision = decide(load(2, 190), recent, [], POLICY)

    assert (decision.desired, decision.reason) == (3, Reason.SCALE_UP)


def test_growth_is_limited_per_rate_period() -> None:
    policy = Policy(scale_up_max_step=2, rate_period_s=15.0)
    first = decide(load(2, 200), [], [], policy)  # full: wants ceil(2 * 1.25) = 3
    burst = decide(load(4, 400), [], [], policy)  # wants 5
    after_growth = decide(load(4, 400), [], [Change(at_s=990.0, delta=2)], policy)
    period_over = decide(load(4, 400), [], [Change(at_s=980.0, delta=2)], policy)
    big = decide(load(4, 400), [], [], Policy(target_utilisation=0.3, scale_up_max_step=2))

    assert (first.desired, first.reason) == (3, Reason.SCALE_UP)
    assert (burst.desired, burst.reason) == (5, Reason.SCALE_UP)
    assert (after_growth.desired, after_growth.reason) == (4, Reason.SCALE_UP_RATE_LIMITED)
    assert (period_over.desired, period_over.reason) == (5, Reason.SCALE_UP)
    assert (big.desired, big.reason) == (6, Reason.SCALE_UP_RATE_LIMITED)


def test_shrinking_is_limited_per_rate_period() -> None:
    policy = Policy(scale_down_max_step=1, rate_period_s=15.0)
    first = decide(load(6, 60), [], [], policy)
    again = decide(load(5, 60), [], [Change(at_s=995.0, delta=-1)], policy)
    grown_lately = decide(load(5, 60), [], [Change(at_s=995.0, delta=+2)], policy)

    assert (first.desired, first.reason) == (5, Reason.SCALE_DOWN_RATE_LIMITED)
    assert (again.desired, again.reason) == (5, Reason.SCALE_DOWN_RATE_LIMITED)
    assert (grown_lately.desired, grown_lately.reason) == (4, Reason.SCALE_DOWN_RATE_LIMITED)


@pytest.mark.parametrize(
    ("servers", "streams", "desired", "reason"),
    [
        (0, 0, 1, Reason.BELOW_MIN),
        (12, 1200, 10, Reason.ABOVE_MAX),
        (10, 1000, 10, Reason.AT_MAX),
        (1, 0, 1, Reason.AT_MIN),
    ],
)
def test_the_group_stays_between_min_and_max(
    servers: int, streams: int, desired: int, reason: Reason
) -> None:
    decision = decide(load(servers, streams), [], [], POLICY)

    assert (decision.desired, decision.reason) == (desired, reason)


def test_the_min_is_a_floor_for_scale_in() -> None:
    decision = decide(load(4, 10), [], [], Policy(min_servers=3))

    assert (decision.desired, decision.reason) == (3, Reason.SCALE_DOWN)


def test_a_small_dip_that_rounds_back_to_the_current_count_holds() -> None:
    decision = decide(load(2, 100), [], [], POLICY)  # 50%: ceil(2 * 0.625) = 2

    assert (decision.desired, decision.reason) == (2, Reason.ROUNDS_TO_CURRENT)
