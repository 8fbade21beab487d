"""The server group on a real Ray head and Kafka broker, both started here on free ports.

Three figures, each from the real parts at speed 1:

- reaction: streams are added until utilisation crosses the autoscaler's threshold (target
  * (1 + tolerance)); the clock runs until a new stream is served by a second server;
- routing overhead: a stream start through the router against one sent straight to a server
  (the router's hop, its choice and its bookkeeping), alternating so both see the same load;
- streams per core: one server holds many streams for a while; its process's CPU time over
  that while gives streams per core (heartbeats to Kafka and the group's regular look at its
  streams included, as they are what holding a stream costs).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import ray
from ray.actor import ActorHandle

from streamsim.clock import SiteClock
from streamsim.settings import Settings, load_settings
from streamsim.stack.broker import running_broker
from streamsim.stack.processes import free_port
from streamsim.stack.ray_head import RAY_QUIET_ENV, LocalRayHead

DESCRIPTION = "reaction time to a new server, routing overhead, streams per server per core"
HOST = "127.0.0.1"


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--capacity", type=int, default=20, help="per server, for the reaction")
    parser.add_argument("--starts", type=int, default=200, help="stream starts per path")
    parser.add_argument("--streams", type=int, default=2000, help="streams one server holds")
    parser.add_argument("--hold-s", type=float, default=30.0, help="real seconds to hold them")


def run(settings: Any, options: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="streamsim-bench-servers-") as state:
        base = bench_settings(Path(state))
        with cluster(base):
            return asyncio.run(_bench(base, options))


def bench_settings(state: Path, **servers: object) -> Settings:
    """Speed 1 and free loopback ports only, so the bench meets no running stack."""
    return load_settings(
        state_dir=state,
        speed=1.0,
        run_id="bench-servers",
        kafka={"port": free_port(HOST), "controller_port": free_port(HOST)},
        ray={"port": free_port(HOST), "dashboard_port": free_port(HOST)},
        servers={"router_port": free_port(HOST), **servers},
    )


@contextmanager
def cluster(settings: Settings) -> Iterator[None]:
    head = LocalRayHead(settings)
    with running_broker(settings):
        try:
            head.start()
            ray.init(
                address=head.address,
                _node_ip_address=HOST,
                log_to_driver=False,
                runtime_env={"env_vars": RAY_QUIET_ENV},
            )
            yield
        finally:
            ray.shutdown()
            head.stop()


async def _bench(base: Settings, options: argparse.Namespace) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        small = _with_servers(base, capacity=options.capacity, min_servers=1, max_servers=3)
        async with _group(small, "bench-router-scaling") as (group, router):
            reaction = await _reaction(http, group, router, small)
            routing = await _routing_overhead(http, group, router, options.starts)
        big = _with_servers(
            base, capacity=options.streams, min_servers=1, max_servers=1, cpus_per_server=0.5
        )
        async with _group(big, "bench-router-holding") as (group, router):
            holding = await _holding(http, group, router, options.streams, options.hold_s)
    return {"reaction": reaction, "routing": routing, "holding": holding}


def _with_servers(base: Settings, **servers: object) -> Settings:
    fields = {**base.servers.model_dump(), "router_port": free_port(HOST), **servers}
    return base.model_copy(update={"servers": type(base.servers)(**fields)})


class _group:
    """A ServerGroup actor for one part of the bench, stopped when the part ends."""

    def __init__(self, settings: Settings, name: str) -> None:
        from streamsim.servers.group import ServerGroup

        clock = SiteClock.starting_now(settings.speed)
        self._actor: ActorHandle = ServerGroup.options(  # type: ignore[attr-defined]
            name=name, num_cpus=0.05
        ).remote(settings, clock)

    async def __aenter__(self) -> tuple[ActorHandle, str]:
        router: str = await self._actor.start.remote()
        return self._actor, router

    async def __aexit__(self, *_: object) -> None:
        await self._actor.stop.remote()
        ray.kill(self._actor)


# --- reaction -----------------------------------------------------------------------------


async def _reaction(
    http: aiohttp.ClientSession, group: ActorHandle, router: str, settings: Settings
) -> dict[str, Any]:
    """Fill one server past the threshold; time until a second one serves a new stream."""
    servers = settings.servers
    threshold = servers.target_utilisation * (1 + servers.tolerance)
    crossing = int(servers.capacity * threshold) + 1
    for _ in range(crossing):
        await _start(http, router)
    crossed_at = time.monotonic()
    while len(_serving(await group.describe.remote())) < 2:
        await asyncio.sleep(0.05)
    up_at = time.monotonic()
    served_by = (await _start(http, router))["server_id"]
    served_at = time.monotonic()
    return {
        "capacity": servers.capacity,
        "streams_at_crossing": crossing,
        "threshold_utilisation": round(threshold, 3),
        "decision_interval_s": servers.scale_interval_s,
        "crossing_to_server_up_s": round(up_at - crossed_at, 2),
        "crossing_to_serving_s": round(served_at - crossed_at, 2),
        "new_stream_served_by": served_by,
    }


def _serving(described: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in described["servers"] if s["state"] == "serving"]


async def _start(http: aiohttp.ClientSession, url: str, number: int = 0) -> dict[str, Any]:
    body = {"user_id": f"u-{number}", "session_id": f"s-{number}", "video_id": "v00001"}
    async with http.post(f"{url}/streams", json=body) as answer:
        reply: dict[str, Any] = await answer.json()
        if answer.status != 201:
            raise RuntimeError(f"{url} refused a stream: {answer.status} {reply}")
        return reply


async def _stop(http: aiohttp.ClientSession, server_url: str, stream_id: str) -> None:
    async with http.post(f"{server_url}/streams/{stream_id}/stop", json={"reason": "ended"}):
        pass


# --- routing overhead ---------------------------------------------------------------------


async def _routing_overhead(
    http: aiohttp.ClientSession, group: ActorHandle, router: str, starts: int
) -> dict[str, Any]:
    """Alternate router and direct starts; each stream stops at once, so none fills up."""
    server_url = _serving(await group.describe.remote())[0]["url"]
    through_router: list[float] = []
    direct: list[float] = []
    for number in range(starts):
        for url, times in ((router, through_router), (server_url, direct)):
            began = time.perf_counter()
            reply = await _start(http, url, number)
            times.append(time.perf_counter() - began)
            await _stop(http, reply.get("server_url", server_url), reply["stream_id"])
    overhead = statistics.median(through_router) - statistics.median(direct)
    return {
        "starts_per_path": starts,
        "router_median_ms": _ms(statistics.median(through_router)),
        "router_p95_ms": _ms(_p95(through_router)),
        "direct_median_ms": _ms(statistics.median(direct)),
        "direct_p95_ms": _ms(_p95(direct)),
        "overhead_median_ms": _ms(overhead),
    }


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# --- streams per core ---------------------------------------------------------------------


async def _holding(
    http: aiohttp.ClientSession, group: ActorHandle, router: str, streams: int, hold_s: float
) -> dict[str, Any]:
    """Start `streams` streams on one server, then measure its process over `hold_s`."""
    for first in range(0, streams, 50):
        await asyncio.gather(*(_start(http, router, n) for n in range(first, first + 50)))
    [server] = _serving(await group.describe.remote())
    process = psutil.Process(server["pid"])
    await asyncio.sleep(5.0)  # let the start-up burst settle
    before, began = process.cpu_times(), time.monotonic()
    await asyncio.sleep(hold_s)
    after, held = process.cpu_times(), time.monotonic() - began
    cpu_s = (after.user - before.user) + (after.system - before.system)
    cores = cpu_s / held
    return {
        "streams": streams,
        "held_s": round(held, 1),
        "server_cpu_cores": round(cores, 4),
        "streams_per_core": round(streams / cores) if cores > 0 else None,
        "server_rss_mib": round(process.memory_info().rss / 2**20, 1),
    }
