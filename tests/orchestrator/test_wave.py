"""The wave's rate, its integral, and the Poisson arrivals drawn from it."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from streamsim.orchestrator.wave import LiveWave, Wave, poisson

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


@pytest.mark.parametrize("mean", [0.0, -1.0])
def test_a_non_positive_mean_draws_nothing(mean: float) -> None:
    assert poisson(random.Random(1), mean) == 0


# Both tests below use a tolerance of 5 standard errors of the estimate. For a Poisson
# variable of mean m, n draws give the sample mean a standard error sqrt(m / n), and the
# sample variance one of sqrt((m + 2 m^2) / n) (fourth central moment m + 3 m^2). A correct
# sampler misses by more than 5 standard errors with probability below 1e-6, and the RNG is
# seeded, so the test is deterministic; a wrong sampler (e.g. off by one, or a wrong
# spread) misses by far more than that at these sample sizes.
DRAWS = 20_000


@pytest.mark.parametrize("mean", [0.3, 3.0, 20.0, 49.0, 51.0, 200.0, 5000.0])
def test_poisson_draws_have_the_requested_mean_and_variance(mean: float) -> None:
    rng = random.Random(20261201)
    draws = [poisson(rng, mean) for _ in range(DRAWS)]

    mean_error = math.sqrt(mean / DRAWS)
    variance_error = math.sqrt((mean + 2 * mean**2) / DRAWS)
    assert statistics.fmean(draws) == pytest.approx(mean, abs=5 * mean_error)
    assert statistics.variance(draws) == pytest.approx(mean, abs=5 * variance_error)
    assert all(isinstance(d, int) and d >= 0 for d in draws)


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
