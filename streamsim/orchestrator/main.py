"""Running the orchestrator as its own process, so it can be restarted on its own."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path

import aiohttp

from streamsim.bus import Emitter
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
    emitter = Emitter(settings.kafka.bootstrap, Source.ORCHESTRATOR)
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
    write_counts(settings, {"users": dict(orchestrator.counts), **emitter.counts()})


def service_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def counts_file(settings: Settings) -> Path:
    """Where the orchestrator leaves its final counts for the run summary."""
    return settings.state / "runs" / settings.run_id / "orchestrator.json"


def write_counts(settings: Settings, counts: dict[str, object]) -> None:
    path = counts_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(counts, indent=2))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(run(load_settings()))
    except StreamsimError as error:
        log.error("%s", error)
        return 1
    return 0
