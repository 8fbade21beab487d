"""Running the orchestrator as its own process, so it can be restarted on its own.

Each process of it (each incarnation: the first, and every restart after a kill) keeps its
counts in a file of its own as it emits, so a restarted orchestrator adds to what the killed
one sent instead of writing over it; the run summary adds every incarnation up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from pathlib import Path

import aiohttp

from streamsim.bus import EmitCounts, Emitter
from streamsim.bus.emitter import save_counts
from streamsim.clock import SiteClock
from streamsim.errors import StreamsimError
from streamsim.events import Source
from streamsim.orchestrator.api import check_bind_is_safe, orchestrator_app
from streamsim.orchestrator.live import SettingsStore, starting_wave
from streamsim.orchestrator.monitor import SiteMonitor
from streamsim.orchestrator.service import Orchestrator
from streamsim.settings import Settings, load_settings
from streamsim.webserve import serve

log = logging.getLogger(__name__)


async def run(settings: Settings) -> None:
    config = settings.orchestrator
    check_bind_is_safe(config)
    store = SettingsStore(settings.state)
    wave = starting_wave(config, store.load())
    store.save(wave)
    counts_path = incarnation_file(settings)
    emitter = Emitter(settings.kafka.bootstrap, Source.ORCHESTRATOR, counts_path)
    orchestrator = Orchestrator(
        config,
        SiteClock.for_run(settings.speed, settings.site_origin),
        service_url(settings.users.host, settings.users.port),
        emitter.emit,
        settings.run_id,
        wave=wave,
        store=store,
    )
    monitor = SiteMonitor(
        service_url(settings.users.host, settings.users.port),
        service_url(settings.servers.host, settings.servers.router_port),
    )
    runner, _ = await serve(orchestrator_app(orchestrator, monitor), config.host, config.port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    orchestrator.announce()
    log.info("orchestrator on http://%s:%s, wave %s", config.host, config.port, wave)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        background = [
            asyncio.create_task(orchestrator.spawn_forever(http)),
            asyncio.create_task(monitor.watch_forever(http)),
        ]
        await stop.wait()
        for task in background:
            task.cancel()
        await orchestrator.settle()
    await runner.cleanup()
    await asyncio.to_thread(emitter.close)
    final = {"users": dict(orchestrator.counts), **emitter.counts(), "stopped": True}
    save_counts(counts_path, final)


def service_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def counts_folder(settings: Settings) -> Path:
    """Where every orchestrator process of a run leaves its counts for the run summary."""
    return settings.state / "runs" / settings.run_id / "orchestrator"


def incarnation_file(settings: Settings) -> Path:
    """A name no other process of this run takes: a pid may come back, not with the time."""
    return counts_folder(settings) / f"{time.time_ns()}-{os.getpid()}.json"


def read_counts(settings: Settings) -> tuple[EmitCounts, EmitCounts]:
    """Every incarnation's counts added up, and apart, those of the ones that were killed.

    A killed one (no `stopped` mark) may have died with events counted but not yet
    confirmed by Kafka; the summary says how many, beside any loss they explain.
    """
    total, killed = EmitCounts(), EmitCounts()
    for path in sorted(counts_folder(settings).glob("*.json")):
        counts = json.loads(path.read_text())
        total.add(counts)
        if not counts.get("stopped"):
            killed.add(counts)
    return total, killed


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(run(load_settings()))
    except StreamsimError as error:
        log.error("%s", error)
        return 1
    return 0
