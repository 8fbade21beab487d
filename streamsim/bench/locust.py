"""streamsim's simulated users against Locust's: CPU seconds per million user actions.

Both walk the same behaviour model (the chain, durations and catalogue of
streamsim.users.model) against the same site: the fake router and server of `bench users`,
in a process of their own on a free loopback port, answering at once, so neither side's
figure holds the servers' cost. One run each, one after the other, at the same number of
users and speed. Ours is one user-service replica (what Ray runs), with its events
serialised and counted instead of sent to Kafka; Locust's is a local runner of
`FastHttpUser`s (its faster client) with no web UI, in a process of its own. A user action
is one step of the chain (a page, a play, a pause, closing the browser, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import subprocess
import sys
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from streamsim.errors import StreamsimError

DESCRIPTION = "CPU seconds per million user actions: streamsim's users vs Locust's"


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=2000, help="concurrent users, each side")
    parser.add_argument("--seconds", type=float, default=60.0, help="real seconds measured")
    parser.add_argument("--warmup", type=float, default=15.0, help="real seconds before that")
    parser.add_argument("--speed", type=float, default=10.0, help="site seconds per second")


def run(settings: Any, options: argparse.Namespace) -> dict[str, Any]:
    if options.users < 1 or min(options.seconds, options.speed) <= 0 or options.warmup < 0:
        raise StreamsimError("--users, --seconds and --speed must be positive, --warmup not <0")
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    site = context.Process(target=_serve_fake_site, args=(theirs,), daemon=True)
    site.start()
    try:
        router = f"http://127.0.0.1:{ours.recv()}"
        load_before = os.getloadavg()
        progress(f"our users: {options.users} for {options.warmup:g} + {options.seconds:g} s ...")
        streamsim = _side(_run_ours(context, router, options))
        progress("Locust's users: the same against the same site ...")
        locust = _side(_run_locust(router, options))
    finally:
        site.terminate()
        site.join(timeout=10)
    return {
        "setup": {**vars_of(options), "load_average_before": load_before[:3]},
        "streamsim": streamsim,
        "locust": locust,
        "locust_over_streamsim": _ratio(locust, streamsim),
        "load_average_after": os.getloadavg()[:3],
    }


def vars_of(options: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(options, name) for name in ("users", "seconds", "warmup", "speed")}


def _side(measured: dict[str, Any]) -> dict[str, Any]:
    actions = measured["actions"]
    per_million = measured["cpu_s"] / actions * 1e6 if actions else None
    return {
        **measured,
        "cpu_s": round(measured["cpu_s"], 2),
        "cpu_s_per_million_actions": None if per_million is None else round(per_million, 1),
    }


def _ratio(locust: dict[str, Any], ours: dict[str, Any]) -> float | None:
    theirs, mine = locust["cpu_s_per_million_actions"], ours["cpu_s_per_million_actions"]
    return round(theirs / mine, 2) if theirs and mine else None


# --- the site both sides use ---------------------------------------------------------------


def _serve_fake_site(reply: Connection) -> None:
    asyncio.run(_fake_site(reply))


async def _fake_site(reply: Connection) -> None:
    from streamsim.bench.users import _fake_router_app

    url: list[str] = []
    runner = web.AppRunner(_fake_router_app(url), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    url.append(f"http://127.0.0.1:{port}")
    reply.send(port)
    await asyncio.Event().wait()  # until the bench terminates this process


# --- streamsim's users ---------------------------------------------------------------------


def _run_ours(context: Any, router: str, options: argparse.Namespace) -> dict[str, Any]:
    ours, theirs = context.Pipe()
    args = (router, options.users, options.warmup, options.seconds, options.speed, theirs)
    child = context.Process(target=_our_users, args=args, daemon=True)
    child.start()
    try:
        measured: dict[str, Any] = ours.recv()
    except EOFError:
        raise StreamsimError("our users' process ended without a result") from None
    finally:
        child.join(timeout=120)
    return measured


def _our_users(
    router: str, users: int, warmup_s: float, seconds: float, speed: float, reply: Connection
) -> None:
    reply.send(asyncio.run(_hold_our_users(router, users, warmup_s, seconds, speed)))


async def _hold_our_users(
    router: str, users: int, warmup_s: float, seconds: float, speed: float
) -> dict[str, Any]:
    from streamsim.clock import SiteClock
    from streamsim.users.player import Player
    from streamsim.users.service import UserService

    tally: Counter[str] = Counter()

    def emit(event: dict[str, Any]) -> None:
        orjson.dumps(event)  # what the Kafka producer would be handed
        tally["events"] += 1

    def step(_state: str, _action: str, _duration: float) -> None:
        tally["actions"] += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http:
        service = UserService(
            clock=SiteClock.starting_now(speed),
            player=Player(http, router),
            emit=emit,
            heartbeat_s=10.0,
            run_id="bench",
            seed=1,
            on_step=step,
        )
        await _keep(service, users, warmup_s)
        cpu_before, before = _cpu_seconds(), Counter(tally)
        await _keep(service, users, seconds)
        measured = {
            "cpu_s": _cpu_seconds() - cpu_before,
            "actions": tally["actions"] - before["actions"],
            "events": tally["events"] - before["events"],
            "users": service.active(),
        }
        await service.close_all(timeout_s=30)
        await _settle()
    return measured


async def _settle() -> None:
    """Let the users' last requests end while their HTTP session is still open.

    A stream granted after its viewer stopped waiting is stopped by a task of its own, which
    close_all does not wait for; on a busy machine some are still running here.
    """
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    if others:
        await asyncio.wait(others, timeout=30)


async def _keep(service: Any, users: int, seconds: float) -> None:
    """Hold `users` for `seconds`: a user who closed the browser is replaced within 0.5 s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        for _ in range(users - service.active()):
            service.create()
        await asyncio.sleep(0.5)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- Locust's users ------------------------------------------------------------------------


def _run_locust(router: str, options: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        *("-m", "streamsim.bench._locust_viewers", router, str(options.users)),
        *(str(options.warmup), str(options.seconds), str(options.speed)),
    ]
    limit = options.warmup + options.seconds + 120
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        raise StreamsimError(f"Locust's run did not end within {limit:.0f} s") from None
    if done.returncode != 0 or not done.stdout.strip():
        if "No module named 'locust'" in done.stderr:
            raise StreamsimError("Locust is not installed: run `make install` (bench extra)")
        raise StreamsimError(f"Locust's run failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
