"""The wave's rate, its integral, and the Poisson arrivals drawn from it."""

from __future__ import annotations

import math

import pytest

from streamsim.orchestrator.wave import LiveWave, Wave

WAVE = Wave(max_rate=5.0, period_s=120.0, floor=0.5)


def simpson(wave: Wave, t0: float, t1: float, steps: int = 2000) -> float:
    """Composite Simpson's rule: exact to ~1e-12 for a smooth sine at this step count."""
    h = (t1 - t0) / steps
    inner = sum((4 if i % 2 else 2) * wave.rate(t0 + i * h) for i in range(1, steps))
    return h / 3 * (wave.rate(t0) + inner + wave.rate(t1))


def test_the_rate_starts_at_the_floor() -> None:
    assert WAVE.rate(0.0) == pytest.approx(0.5)


def test_the_rate_peaks_at_max_rate_half_a_period_in() -> None:
    assert WAVE.rate(60.0) == pytest.approx(5.0)
    samples = [WAVE.rate(t / 10) for t in range(1200)]
    assert max(samples) == pytest.approx(5.0)
    assert min(samples) == pytest.approx(0.5)


def test_the_rate_is_back_at_the_floor_after_a_full_period() -> None:
    assert WAVE.rate(120.0) == pytest.approx(0.5)


@pytest.mark.parametrize(("t0", "t1"), [(0.0, 120.0), (0.0, 37.5), (13.0, 250.0), (60.0, 61.0)])
def test_expected_users_is_the_integral_of_the_rate(t0: float, t1: float) -> None:
    assert WAVE.expected_users(t0, t1) == pytest.approx(simpson(WAVE, t0, t1), rel=1e-9)


def test_a_full_period_brings_the_mean_rate_times_the_period() -> None:
    assert WAVE.expected_users(0.0, 120.0) == pytest.approx((0.5 + 5.0) / 2 * 120.0)


def test_no_time_brings_no_users() -> None:
    assert WAVE.expected_users(42.0, 42.0) == 0.0


def test_a_live_wave_keeps_its_rate_when_the_period_changes() -> None:
    live = LiveWave(Wave(max_rate=10.0, period_s=100.0), site_now=0.0)
    live.advance(30.0)
    before = live.rate()

    live.retune(Wave(max_rate=10.0, period_s=400.0), site_now=30.0)

    assert live.rate() == pytest.approx(before, rel=1e-12)
    assert Wave(10.0, 400.0).rate(30.0) < before / 2  # what a phase from t / period gives


def test_after_a_period_change_the_phase_moves_at_the_new_pace() -> None:
    live = LiveWave(Wave(max_rate=10.0, period_s=100.0), site_now=0.0)
    live.retune(Wave(max_rate=10.0, period_s=400.0), site_now=25.0)  # a quarter cycle

    live.advance(25.0 + 100.0)  # another quarter at the new period: the peak

    assert live.phase == pytest.approx(math.pi)
    assert live.rate() == pytest.approx(10.0)


def test_a_live_wave_owes_the_integral_of_each_shape_over_its_own_span() -> None:
    live = LiveWave(Wave(max_rate=4.0, period_s=50.0, floor=1.0), site_now=0.0)
    live.retune(Wave(max_rate=4.0, period_s=50.0, floor=4.0), site_now=50.0)

    owed = live.take_users(60.0)

    assert owed == pytest.approx((1.0 + 4.0) / 2 * 50.0 + 4.0 * 10.0)
    assert live.take_users(60.0) == 0.0
