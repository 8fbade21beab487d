"""How many simulated users one user-service replica holds at speed 1, and at what cost.

Self-contained: the bench process runs a fake router and server (they answer at once, on a
free loopback port) and the HTTP client; the user service runs in a child process of its
own, exactly as one replica runs it, with the events serialised to JSON and counted instead
of sent to Kafka. CPU and memory are the child's, so they are the user service's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import orjson
import psutil
from aiohttp import web

DESCRIPTION = "concurrent users per core at speed 1, CPU per event, memory, POST latency"


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=20_000, help="users to hold")
    parser.add_argument("--hold-s", type=float, default=30.0, help="real seconds to hold them")
    parser.add_argument("--in-flight", type=int, default=16, help="concurrent POST /users")


def run(settings: Any, options: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_bench(options.users, options.hold_s, options.in_flight))


# --- the fake streaming side -----------------------------------------------------------


def _fake_router_app(url: list[str]) -> web.Application:
    """A router and a server in one: every stream starts, every action succeeds."""
    numbers = iter(range(1, 1 << 62))

    async def start(_: web.Request) -> web.Response:
        stream = {"stream_id": f"st-{next(numbers)}", "server_id": "s-1", "server_url": url[0]}
        return web.json_response(stream, status=201)

    async def act(_: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/streams", start)
    app.router.add_post("/streams/{stream_id}/{action}", act)
    return app


# --- the user service, in its own process ------------------------------------------------


def _serve_users(router_url: str, reply: Connection) -> None:
    asyncio.run(_users_main(router_url, reply))


async def _users_main(router_url: str, reply: Connection) -> None:
    from streamsim.clock import SiteClock
    from streamsim.users.api import user_app
    from streamsim.users.player import Player
    from streamsim.users.service import UserService
    from streamsim.webserve import serve

    emitted: Counter[str] = Counter()

    def emit(event: dict[str, Any]) -> None:
        orjson.dumps(event)  # the serialisation Kafka would need, so its CPU is counted
        emitted[event["event_type"]] += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http:
        service = UserService(
            clock=SiteClock.starting_now(1.0),
            player=Player(http, router_url),
            emit=emit,
            heartbeat_s=10.0,
            run_id="bench",
            seed=1,
            emitted=lambda: dict(emitted),
        )
        runner, port = await serve(user_app(service), "127.0.0.1", 0)
        reply.send(port)
        await asyncio.get_running_loop().run_in_executor(None, reply.recv)  # until told to stop
        await runner.cleanup()
        await service.close_all(timeout_s=30)


# --- the driver ---------------------------------------------------------------------------


async def _bench(users: int, hold_s: float, in_flight: int) -> dict[str, Any]:
    url: list[str] = []
    runner = web.AppRunner(_fake_router_app(url), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve_users, args=(url[0], theirs), daemon=True)
    child.start()
    try:
        port = await asyncio.get_running_loop().run_in_executor(None, ours.recv)
        return await _measure(
            f"http://127.0.0.1:{port}", psutil.Process(child.pid), users, hold_s, in_flight
        )
    finally:
        ours.send("stop")
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
        await runner.cleanup()


async def _measure(
    users_url: str, service: psutil.Process, users: int, hold_s: float, in_flight: int
) -> dict[str, Any]:
    latencies: list[float] = []
    held_latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as http:
        rss_before = service.memory_info().rss
        ramp_started = time.perf_counter()
        await _create(http, users_url, users, in_flight, latencies)
        ramp_s = time.perf_counter() - ramp_started
        rss_after = service.memory_info().rss
        cpu_before, events_before = _cpu(service), await _events(http, users_url)
        held, started = [], time.perf_counter()
        while (elapsed := time.perf_counter() - started) < hold_s:
            await asyncio.sleep(1.0)
            active = (await _listing(http, users_url))["active"]
            held.append(active)
            await _create(http, users_url, users - active, in_flight, held_latencies)
        cpu_s, events = _cpu(service) - cpu_before, await _events(http, users_url) - events_before
    cores = cpu_s / elapsed
    return {
        "setup": "one user-service replica in a child process, no Ray; fake router and server "
        "(instant answers) and the client in the bench process; events serialised and "
        "counted, not sent to Kafka",
        "speed": 1.0,
        "users_target": users,
        "concurrent_users_held_min": min(held),
        "ramp_s": round(ramp_s, 1),
        "hold_s": round(elapsed, 1),
        "cpu_cores_used": round(cores, 3),
        "users_per_core": round(min(held) / cores) if cores > 0 else None,
        "user_events_per_s": round(events / elapsed),
        "cpu_s_per_million_events": round(cpu_s / events * 1e6, 1) if events else None,
        "memory_per_user_kib": round((rss_after - rss_before) / users / 1024, 2),
        "post_users_during_ramp": _latency(latencies),
        "post_users_while_holding": _latency(held_latencies),
    }


def _latency(seconds: list[float]) -> dict[str, float | int | None]:
    """p50 and p99 in milliseconds (p99 needs at least 100 requests to mean anything)."""
    if len(seconds) < 2:
        return {"requests": len(seconds), "p50_ms": None, "p99_ms": None}
    cuts = statistics.quantiles(seconds, n=100)
    return {
        "requests": len(seconds),
        "p50_ms": round(statistics.median(seconds) * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
    }


async def _create(
    http: aiohttp.ClientSession, url: str, count: int, in_flight: int, latencies: list[float]
) -> None:
    gate = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with gate:
            started = time.perf_counter()
            async with http.post(f"{url}/users") as answer:
                await answer.read()
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one() for _ in range(max(0, count))))


async def _listing(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(f"{url}/users?limit=0") as answer:
        listing: dict[str, Any] = await answer.json()
    return listing


async def _events(http: aiohttp.ClientSession, url: str) -> int:
    return sum((await _listing(http, url)).get("emitted", {}).values())


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)
