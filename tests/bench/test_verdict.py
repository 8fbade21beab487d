"""The rules by which `bench stack` says a stack held its wave."""

from __future__ import annotations

import pytest

from streamsim.bench._verdict import (
    LagPoint,
    Publication,
    freshness_verdict,
    highest_sustained,
    lag_verdict,
    slope,
    weighted_median,
)

pytestmark = pytest.mark.timeout(10)


def saw_tooth(seconds: int, drift_per_s: float = 0.0) -> list[LagPoint]:
    """A sink that commits every other sample: the lag rises and falls by a batch."""
    return [
        LagPoint(float(t), int((4000 if t % 10 else 500) + drift_per_s * t))
        for t in range(0, seconds, 5)
    ]


def test_a_saw_tooth_lag_around_a_level_is_bounded() -> None:
    verdict = lag_verdict(saw_tooth(600), events_per_s=2000)

    assert verdict["bounded"]
    assert abs(verdict["growth_events_per_s"]) < 10


def test_a_lag_growing_by_a_tenth_of_the_arrivals_is_not_bounded() -> None:
    verdict = lag_verdict(saw_tooth(600, drift_per_s=200), events_per_s=2000)

    assert not verdict["bounded"]
    assert verdict["growth_events_per_s"] == pytest.approx(200, rel=0.05)
    assert verdict["allowed_growth_events_per_s"] == 40
    assert verdict["seconds_behind_max"] > 10


def test_a_growing_lag_still_within_seconds_of_arrivals_is_kept_up_with() -> None:
    """Users still accumulating: the rate grows, and the lag of a sink keeping up with it."""
    rising = [LagPoint(float(t), 300 + 8 * t) for t in range(0, 150, 5)]

    verdict = lag_verdict(rising, events_per_s=230)

    assert verdict["growth_events_per_s"] > verdict["allowed_growth_events_per_s"]
    assert verdict["bounded"]


def test_only_the_last_half_of_the_run_is_judged() -> None:
    """A lag that builds while the first users arrive, then holds, is bounded."""
    climbing = [LagPoint(float(t), 20 * t) for t in range(0, 300, 5)]
    holding = [LagPoint(float(t), 6000) for t in range(300, 600, 5)]

    assert lag_verdict(climbing + holding, events_per_s=1000)["bounded"]


def test_too_few_samples_are_never_called_bounded() -> None:
    assert not lag_verdict([LagPoint(0.0, 0), LagPoint(5.0, 0)], events_per_s=10)["bounded"]


def test_slope_of_a_straight_line_is_its_rate() -> None:
    assert slope([LagPoint(float(t), 3 * t + 7) for t in range(10)]) == pytest.approx(3)
    assert slope([LagPoint(1.0, 5)]) == 0.0


def test_weighted_median_counts_each_value_by_its_weight() -> None:
    assert weighted_median([(1.0, 1), (9.0, 5), (3.0, 1)]) == 9.0
    assert weighted_median([(1.0, 3), (9.0, 1)]) == 1.0
    assert weighted_median([]) is None


def test_freshness_is_judged_by_the_worst_publication() -> None:
    publications = [Publication(10.0, 100, 8.0, 20.0), Publication(20.0, 300, 12.0, 61.0)]

    verdict = freshness_verdict(publications)

    assert not verdict["met"]
    assert verdict["p95_s"] == 61.0
    assert verdict["p50_s"] == 12.0
    assert verdict["events"] == 400


def test_freshness_with_nothing_published_is_not_met() -> None:
    assert not freshness_verdict([])["met"]


def test_the_ramp_keeps_the_last_peak_before_the_first_unbounded_step() -> None:
    steps = [
        {"peak": 10, "lag": {"bounded": True}},
        {"peak": 20, "lag": {"bounded": True}},
        {"peak": 40, "lag": {"bounded": False}},
        {"peak": 80, "lag": {"bounded": True}},
    ]

    assert highest_sustained(steps) == 20
    assert highest_sustained(steps[2:]) is None
