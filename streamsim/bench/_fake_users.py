"""A users endpoint that answers at once, for the orchestrator benchmark (loopback only).

It runs as a process of its own so that it does not share a core with what it measures.
It prints the port it listens on, then serves until it is terminated.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web

from streamsim.webserve import serve


async def create(_: web.Request) -> web.Response:
    return web.json_response({"user_id": "u"}, status=201)


async def main() -> None:
    app = web.Application()
    app.router.add_post("/users", create)
    runner, port = await serve(app, "127.0.0.1", 0)
    print(port, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
