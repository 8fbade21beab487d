"""Site time: faster than real time by `speed`, and shared by every process of a run."""

from __future__ import annotations

import asyncio
import time

import pytest

from streamsim.clock import SiteClock


def test_site_time_equals_real_time_at_the_origin() -> None:
    origin = time.time()
    clock = SiteClock(speed=50.0, origin=origin)

    assert clock.now() == pytest.approx(origin, abs=50 * 0.05)


def test_site_time_runs_speed_times_faster_than_real_time() -> None:
    clock = SiteClock.starting_now(speed=40.0)
    real_before, site_before = time.time(), clock.now()

    time.sleep(0.2)

    real_elapsed, site_elapsed = time.time() - real_before, clock.now() - site_before
    assert site_elapsed == pytest.approx(40.0 * real_elapsed, rel=0.02)
    assert site_elapsed > 7.0


def test_two_clocks_with_the_same_origin_agree() -> None:
    origin = time.time() - 100.0
    first, second = SiteClock.for_run(12.0, origin), SiteClock.for_run(12.0, origin)

    assert second.now() - first.now() == pytest.approx(0.0, abs=12 * 0.01)
    assert first.now() == pytest.approx(origin + 12 * 100.0, abs=12 * 0.05)


def test_a_clock_for_a_run_without_an_origin_starts_now() -> None:
    clock = SiteClock.for_run(3.0, None)

    assert clock.origin == pytest.approx(time.time(), abs=1.0)


def test_real_seconds_divide_site_seconds_by_the_speed() -> None:
    assert SiteClock(speed=20.0, origin=0.0).real_seconds(10.0) == pytest.approx(0.5)


@pytest.mark.timeout(10)
def test_sleep_lasts_site_seconds_over_speed_in_real_time() -> None:
    clock = SiteClock.starting_now(speed=10.0)

    began = time.monotonic()
    asyncio.run(clock.sleep(3.0))
    took = time.monotonic() - began

    # 0.3 s asked; the loose upper bound absorbs a busy machine, the lower one cannot miss.
    assert 0.29 <= took < 1.0


@pytest.mark.timeout(10)
def test_a_negative_sleep_returns_at_once() -> None:
    began = time.monotonic()
    asyncio.run(SiteClock.starting_now(1.0).sleep(-5.0))

    assert time.monotonic() - began < 0.5
