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
from streamsim.events import Source
from streamsim.orchestrator.service import Orchestrator, orchestrator_app
from streamsim.settings import Settings, load_settings
from streamsim.webserve import serve

log = logging.getLogger(__name__)


async def run(settings: Settings) -> None:
    clock = SiteClock.for_run(settings.speed, settings.site_origin)
    emitter = Emitter(settings.kafka.bootstrap, Source.ORCHESTRATOR)
    users_url = f"http://{settings.users.host}:{settings.users.port}"
    orchestrator = Orchestrator(
        settings.orchestrator, clock, users_url, emitter.emit, settings.run_id
    )
    config = settings.orchestrator
    runner, _ = await serve(orchestrator_app(orchestrator), config.host, config.port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    orchestrator.announce()
    log.info("orchestrator on http://%s:%s, wave %s", config.host, config.port, config)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        spawner = asyncio.create_task(orchestrator.spawn_forever(http))
        await stop.wait()
        spawner.cancel()
        await orchestrator.settle()
    await runner.cleanup()
    await asyncio.to_thread(emitter.close)
    write_counts(settings, {"users": dict(orchestrator.counts), **emitter.counts()})


def counts_file(settings: Settings) -> Path:
    """Where the orchestrator leaves its final counts for the run summary."""
    return settings.state / "runs" / settings.run_id / "orchestrator.json"


def write_counts(settings: Settings, counts: dict[str, object]) -> None:
    path = counts_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(counts, indent=2))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(run(load_settings()))
    return 0
