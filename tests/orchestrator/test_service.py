"""The orchestrator against a users endpoint of the test's own, on a free loopback port."""

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

SPEED = 100.0  # site seconds per real second


class RecordingOrchestrator(Orchestrator):
    """Remembers every wave time it read, so a test knows the exact span it spawned over."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wave_times: list[float] = []
        self.spawned_over: tuple[float, float] = (0.0, 0.0)

    def wave_time(self) -> float:
        t = super().wave_time()
        self.wave_times.append(t)
        return t


class UsersEndpoint:
    """POST /users answering `status` after `delay_s`, counting what it sees at once."""

    def __init__(self, status: int = 201, delay_s: float = 0.0) -> None:
        self.status = status
        self.delay_s = delay_s
        self.received = 0
        self.open_now = 0
        self.most_open = 0

    async def create(self, _: web.Request) -> web.Response:
        self.received += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.open_now -= 1
        return web.json_response({"user_id": f"u{self.received}"}, status=self.status)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/users", self.create)
        return app


def settings(**fields: Any) -> OrchestratorSettings:
    return OrchestratorSettings(**{"max_rate": 5.0, "period_s": 60.0, "floor": 1.0, **fields})


async def spawn_for(
    endpoint: UsersEndpoint, config: OrchestratorSettings, real_s: float
) -> RecordingOrchestrator:
    """Spawn for `real_s`, stop spawning, then let every open request finish."""
    async with TestServer(endpoint.app(), host="127.0.0.1", port=0) as server:
        url = str(server.make_url("")).rstrip("/")
        clock = SiteClock.starting_now(SPEED)
        orchestrator = RecordingOrchestrator(config, clock, url, lambda _: None, "r1", seed=3)
        async with aiohttp.ClientSession() as http:
            spawner = asyncio.create_task(orchestrator.spawn_forever(http))
            await asyncio.sleep(real_s)
            spawner.cancel()  # it waits in its tick sleep: it reads the wave time no more
            orchestrator.spawned_over = (orchestrator.wave_times[0], orchestrator.wave_times[-1])
            await wait_until(lambda: orchestrator.describe()["in_flight"] == 0)
    return orchestrator


async def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout_s)


def run(coroutine: Awaitable[RecordingOrchestrator]) -> RecordingOrchestrator:
    async def main() -> RecordingOrchestrator:
        return await coroutine

    return asyncio.run(main())


def expected_arrivals(orchestrator: RecordingOrchestrator, config: OrchestratorSettings) -> float:
    """The wave's integral from the first to the last tick the spawner looked at."""
    wave = Wave(config.max_rate, config.period_s, config.floor)
    return wave.expected_users(*orchestrator.spawned_over)


@pytest.mark.timeout(30)
def test_users_created_follow_the_integral_of_the_wave() -> None:
    config = settings()
    endpoint = UsersEndpoint()

    orchestrator = run(spawn_for(endpoint, config, real_s=2.0))

    expected = expected_arrivals(orchestrator, config)
    # Arrivals are Poisson with this mean: 5 standard deviations is a miss chance < 1e-6.
    tolerance = 5 * math.sqrt(expected)
    assert expected > 300  # 200 site seconds of a wave averaging 3 users per second
    assert orchestrator.counts["created"] == pytest.approx(expected, abs=tolerance)
    assert orchestrator.counts["created"] == endpoint.received
    assert set(orchestrator.counts) == {"created"}


@pytest.mark.timeout(30)
def test_a_slow_endpoint_never_sees_more_than_max_in_flight_and_the_rest_are_skipped() -> None:
    config = settings(max_in_flight=4)
    endpoint = UsersEndpoint(delay_s=0.5)

    orchestrator = run(spawn_for(endpoint, config, real_s=1.5))

    counts = orchestrator.counts
    assert endpoint.most_open == 4
    assert counts["skipped_in_flight_full"] > 0
    assert counts["created"] == endpoint.received
    expected = expected_arrivals(orchestrator, config)
    arrivals = counts["created"] + counts["skipped_in_flight_full"]
    assert arrivals == pytest.approx(expected, abs=5 * math.sqrt(expected))


@pytest.mark.timeout(30)
def test_an_endpoint_answering_500_counts_users_as_refused() -> None:
    endpoint = UsersEndpoint(status=500)

    orchestrator = run(spawn_for(endpoint, settings(), real_s=0.5))

    assert orchestrator.counts["refused"] == endpoint.received > 0
    assert orchestrator.counts["created"] == 0


@pytest.mark.timeout(30)
def test_an_unreachable_endpoint_counts_users_as_failed() -> None:
    async def against_closed_port() -> RecordingOrchestrator:
        server = TestServer(web.Application(), host="127.0.0.1", port=0)
        await server.start_server()
        url = str(server.make_url("")).rstrip("/")
        await server.close()  # the port is now closed: every request is refused
        orchestrator = RecordingOrchestrator(
            settings(), SiteClock.starting_now(SPEED), url, lambda _: None, "r1", seed=3
        )
        async with aiohttp.ClientSession() as http:
            spawner = asyncio.create_task(orchestrator.spawn_forever(http))
            await asyncio.sleep(0.5)
            spawner.cancel()
            await wait_until(lambda: orchestrator.describe()["in_flight"] == 0)
        return orchestrator

    orchestrator = run(against_closed_port())

    assert orchestrator.counts["failed"] > 0
    assert orchestrator.counts["created"] == 0


def test_announce_emits_one_settings_change_per_setting_from_nothing() -> None:
    config = settings(error_factor=0.25)
    events: list[dict[str, Any]] = []
    orchestrator = Orchestrator(config, SiteClock.starting_now(1.0), "", events.append, "r1")

    orchestrator.announce()

    assert [e["setting"] for e in events] == ["max_rate", "period_s", "floor", "error_factor"]
    assert [e["new_value"] for e in events] == [5.0, 60.0, 1.0, 0.25]
    assert all(e["old_value"] is None for e in events)
    assert all(e["event_type"] == "settings_changed" for e in events)
    assert all(e["source"] == "orchestrator" and e["run_id"] == "r1" for e in events)
    assert len({e["event_id"] for e in events}) == 4
