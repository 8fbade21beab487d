"""How many users a second the orchestrator creates, asked for 100, 1,000 and more.

The orchestrator runs in this process against a fast fake user service in another (both on
loopback), with a constant wave (floor = max_rate) at speed 1, so requested and achieved
rates are users per second. The highest sustained rate is found by doubling until the
achieved rate falls below `--sustained` of the requested one, then halving the gap once.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp

from streamsim.clock import SiteClock
from streamsim.orchestrator.service import Orchestrator
from streamsim.settings import OrchestratorSettings, Settings

DESCRIPTION = "requested vs achieved user-creation rates against a fast fake user service"
FIXED_RATES = (100.0, 1_000.0)


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=4.0, help="per rate tried (4)")
    parser.add_argument("--max-in-flight", type=int, default=256, help="open requests (256)")
    parser.add_argument(
        "--sustained", type=float, default=0.95, help="achieved/requested that counts (0.95)"
    )
    parser.add_argument("--ceiling", type=float, default=32_000.0, help="stop doubling here")


@contextmanager
def fake_user_service() -> Iterator[str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "streamsim.bench._fake_users"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(10)


async def measure(url: str, rate: float, options: argparse.Namespace) -> dict[str, Any]:
    config = OrchestratorSettings(
        max_rate=rate, floor=rate, period_s=60.0, max_in_flight=options.max_in_flight
    )
    orchestrator = Orchestrator(config, SiteClock.starting_now(1.0), url, lambda _: None, "b")
    connector = aiohttp.TCPConnector(limit=options.max_in_flight)
    async with aiohttp.ClientSession(connector=connector) as http:
        spawner = asyncio.create_task(orchestrator.spawn_forever(http))
        await asyncio.sleep(options.seconds)
        spawner.cancel()
        elapsed = orchestrator.wave_elapsed()
        created_in_time = orchestrator.counts["created"]
        await orchestrator.settle()
    counts = orchestrator.counts
    return {
        "requested_rate": round(orchestrator.requested_total / elapsed, 1),
        "achieved_rate": round(created_in_time / elapsed, 1),
        "seconds": round(elapsed, 2),
        "skipped_in_flight_full": counts["skipped_in_flight_full"],
        "failed": counts["failed"] + counts["refused"],
    }


def sustained(result: dict[str, Any], share: float) -> bool:
    return bool(result["achieved_rate"] >= share * result["requested_rate"])


async def highest(url: str, options: argparse.Namespace) -> dict[str, Any]:
    """Double until the rate is not sustained, then try halfway between once."""
    best: dict[str, Any] | None = None
    rate = 2 * FIXED_RATES[-1]
    while rate <= options.ceiling:
        result = await measure(url, rate, options)
        if not sustained(result, options.sustained):
            middle = await measure(url, rate * 0.75, options)
            if sustained(middle, options.sustained):
                best = middle
            break
        best, rate = result, rate * 2
    return best or {"requested_rate": None, "achieved_rate": None}


async def bench(url: str, options: argparse.Namespace) -> dict[str, Any]:
    fixed = {f"{rate:g}": await measure(url, rate, options) for rate in FIXED_RATES}
    return {**fixed, "highest_sustained": await highest(url, options)}


def run(settings: Settings, options: argparse.Namespace) -> dict[str, Any]:
    with fake_user_service() as url:
        results = asyncio.run(bench(url, options))
    return {
        "what": "users created per second by the orchestrator (speed 1, constant wave)",
        "sustained_means": f"achieved >= {options.sustained:g} x requested",
        "max_in_flight": options.max_in_flight,
        "rates": results,
    }
