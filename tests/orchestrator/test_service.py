"""The orchestrator spawning users against a users endpoint of the test's own (loopback)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from streamsim.clock import SiteClock
from streamsim.orchestrator.service import Orchestrator
from streamsim.orchestrator.wave import Wave
from streamsim.settings import OrchestratorSettings

from .support import UsersEndpoint

# Arrivals are Poisson with a known mean m: a count more than 5 standard deviations (5 sqrt m)
# away happens with probability below 1e-6, and the generator is seeded, so these tests are
# deterministic; a spawner that lost or doubled even 10 % of users misses by far more.
SIGMAS = 5.0


def settings(**fields: Any) -> OrchestratorSettings:
    return OrchestratorSettings(**{"max_rate": 5.0, "period_s": 60.0, "floor": 1.0, **fields})


async def spawn_for(
    endpoint: UsersEndpoint,
    config: OrchestratorSettings,
    real_s: float,
    speed: float = 100.0,
    during: Callable[[Orchestrator], Awaitable[None]] | None = None,
) -> Orchestrator:
    """Spawn for `real_s` (running `during` meanwhile), then let every open request finish."""
    async with TestServer(endpoint.app(), host="127.0.0.1", port=0) as server:
        url = str(server.make_url("")).rstrip("/")
        clock = SiteClock.starting_now(speed)
        orchestrator = Orchestrator(config, clock, url, lambda _: None, "r1", seed=3)
        async with aiohttp.ClientSession() as http:
            spawner = asyncio.create_task(orchestrator.spawn_forever(http))
            await (during(orchestrator) if during else asyncio.sleep(real_s))
            spawner.cancel()
            await wait_until(lambda: orchestrator.in_flight() == 0)
    return orchestrator


async def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout_s)


def run(coroutine: Awaitable[Orchestrator]) -> Orchestrator:
    async def main() -> Orchestrator:
        return await coroutine

    return asyncio.run(main())


def analytic_integral(orchestrator: Orchestrator, config: OrchestratorSettings) -> float:
    """The wave's integral over the site time the spawner accounted for."""
    wave = Wave(config.max_rate, config.period_s, config.floor)
    return wave.expected_users(0.0, orchestrator.wave_elapsed())


def assert_follows_the_wave(orchestrator: Orchestrator, config: OrchestratorSettings) -> None:
    expected = analytic_integral(orchestrator, config)
    assert orchestrator.requested_total == pytest.approx(expected, rel=1e-6)
    created = orchestrator.counts["created"]
    assert created == pytest.approx(expected, abs=SIGMAS * math.sqrt(expected))


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_users_created_match_the_integral_of_the_wave_over_many_periods_at_speed_1() -> None:
    config = settings(max_rate=120.0, period_s=1.0, floor=0.0)  # 6 periods in 6 s
    endpoint = UsersEndpoint()

    orchestrator = run(spawn_for(endpoint, config, real_s=6.0, speed=1.0))

    assert orchestrator.wave_elapsed() / config.period_s > 5.5
    assert analytic_integral(orchestrator, config) > 300
    assert_follows_the_wave(orchestrator, config)
    assert orchestrator.counts["created"] == endpoint.received
    assert set(orchestrator.counts) == {"arrivals", "created"}


@pytest.mark.timeout(60)
def test_users_created_match_the_integral_of_the_wave_over_many_periods_at_speed_200() -> None:
    # 600 arrivals a real second at the crest: on a loaded machine the test's own endpoint
    # answers slowly enough to fill the default 64 open requests, and the arrivals skipped
    # then are the in-flight limit's doing (tested on its own below), not the wave's.
    config = settings(max_rate=3.0, period_s=40.0, floor=0.0, max_in_flight=5000)
    endpoint = UsersEndpoint()

    orchestrator = run(spawn_for(endpoint, config, real_s=3.0, speed=200.0))

    assert orchestrator.wave_elapsed() / config.period_s > 14
    assert analytic_integral(orchestrator, config) > 500
    assert_follows_the_wave(orchestrator, config)
    assert orchestrator.counts["created"] == endpoint.received
    assert set(orchestrator.counts) == {"arrivals", "created"}


@pytest.mark.timeout(60)
def test_even_arrivals_match_the_integral_to_within_one_user() -> None:
    config = settings(arrivals="even")
    endpoint = UsersEndpoint()

    orchestrator = run(spawn_for(endpoint, config, real_s=2.0))

    expected = analytic_integral(orchestrator, config)
    assert abs(orchestrator.counts["created"] - expected) <= 1.0


@pytest.mark.timeout(60)
def test_a_period_change_mid_run_leaves_the_rate_where_it_was() -> None:
    rates: list[tuple[float, float]] = []

    async def change_period(orchestrator: Orchestrator) -> None:
        await asyncio.sleep(0.35)  # 35 site seconds in, the rate is climbing
        before = orchestrator.describe()["requested_rate"]
        orchestrator.change({"period_s": 300.0})
        rates.append((before, orchestrator.describe()["requested_rate"]))
        await asyncio.sleep(0.5)

    config = settings(period_s=100.0, floor=0.0)
    orchestrator = run(spawn_for(UsersEndpoint(), config, 0.0, during=change_period))

    before, after = rates[0]
    assert 0.5 < before < 4.5
    # The rate climbs at most 0.16 per site second here, and well under 0.1 site seconds
    # pass between the two reads; a jump from recomputing the phase would be over 1.5.
    assert after == pytest.approx(before, abs=0.02)
    assert Wave(5.0, 300.0).rate(35.0) < before - 1.5
    assert orchestrator.wave.period_s == 300.0


@pytest.mark.timeout(30)
def test_a_slow_endpoint_never_sees_more_than_max_in_flight_and_the_rest_are_counted() -> None:
    config = settings(max_in_flight=4)
    endpoint = UsersEndpoint(delay_s=0.5)

    orchestrator = run(spawn_for(endpoint, config, real_s=1.5))

    counts = orchestrator.counts
    assert endpoint.most_open == 4
    assert counts["skipped_in_flight_full"] > 0
    assert counts["created"] == endpoint.received
    assert counts["created"] + counts["skipped_in_flight_full"] == counts["arrivals"]
    expected = analytic_integral(orchestrator, config)
    assert counts["arrivals"] == pytest.approx(expected, abs=SIGMAS * math.sqrt(expected))


@pytest.mark.timeout(30)
def test_an_endpoint_answering_500_counts_users_as_refused() -> None:
    endpoint = UsersEndpoint(status=500)

    orchestrator = run(spawn_for(endpoint, settings(), real_s=0.5))

    assert orchestrator.counts["refused"] == endpoint.received > 0
    assert orchestrator.counts["created"] == 0


@pytest.mark.timeout(30)
def test_creating_resumes_by_itself_once_the_endpoint_recovers() -> None:
    endpoint = UsersEndpoint(status=503)

    async def recover(orchestrator: Orchestrator) -> None:
        await asyncio.sleep(0.5)
        refused_while_down = orchestrator.counts["refused"]
        endpoint.status = 201
        await asyncio.sleep(0.8)
        assert refused_while_down > 0

    orchestrator = run(spawn_for(endpoint, settings(), 0.0, during=recover))

    assert orchestrator.counts["created"] > 10


@pytest.mark.timeout(30)
def test_an_unreachable_endpoint_counts_users_as_failed() -> None:
    async def against_closed_port() -> Orchestrator:
        server = TestServer(web.Application(), host="127.0.0.1", port=0)
        await server.start_server()
        url = str(server.make_url("")).rstrip("/")
        await server.close()  # the port is now closed: every request is refused
        clock = SiteClock.starting_now(100.0)
        orchestrator = Orchestrator(settings(), clock, url, lambda _: None, "r1", seed=3)
        async with aiohttp.ClientSession() as http:
            spawner = asyncio.create_task(orchestrator.spawn_forever(http))
            await asyncio.sleep(0.5)
            spawner.cancel()
            await wait_until(lambda: orchestrator.in_flight() == 0)
        return orchestrator

    orchestrator = run(against_closed_port())

    assert orchestrator.counts["failed"] > 0
    assert orchestrator.counts["created"] == 0


@pytest.mark.timeout(30)
def test_each_new_user_is_asked_for_with_the_error_factor_in_force() -> None:
    endpoint = UsersEndpoint()

    async def raise_the_factor(orchestrator: Orchestrator) -> None:
        await asyncio.sleep(0.4)
        orchestrator.change({"error_factor": 0.75})
        await asyncio.sleep(0.4)

    run(spawn_for(endpoint, settings(error_factor=0.25), 0.0, during=raise_the_factor))

    factors = [body["error_factor"] for body in endpoint.bodies]
    assert factors[0] == 0.25 and factors[-1] == 0.75
    assert factors == sorted(factors)  # the change holds for every user after it


def test_announce_emits_one_settings_change_per_setting_from_nothing() -> None:
    config = settings(error_factor=0.25)
    events: list[dict[str, Any]] = []
    orchestrator = Orchestrator(config, SiteClock.starting_now(1.0), "", events.append, "r1")

    orchestrator.announce()

    assert [e["setting"] for e in events] == [
        "max_rate",
        "period_s",
        "floor",
        "error_factor",
        "arrivals",
    ]
    assert [e["new_value"] for e in events] == [5.0, 60.0, 1.0, 0.25, "poisson"]
    assert all(e["old_value"] is None for e in events)
    assert all(e["event_type"] == "settings_changed" for e in events)
    assert all(e["source"] == "orchestrator" and e["run_id"] == "r1" for e in events)
    assert len({e["event_id"] for e in events}) == 5
