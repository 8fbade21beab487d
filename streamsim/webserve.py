"""Running an aiohttp app inside an event loop someone else owns (a Ray actor's)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start `app`; port 0 picks a free port, which is returned."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, runner.addresses[0][1]


def bad_request(message: str) -> web.HTTPBadRequest:
    """A 400 whose JSON body names what is wrong, for a client to show as it is."""
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def parse_object(raw: bytes, what: str = "the body") -> dict[str, Any]:
    """A request body as a JSON object, or a 400 that says why it is not one.

    Nesting too deep for the parser is as much "not JSON" to us as a stray comma.
    """
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise bad_request(f"{what} is not JSON") from None
    if not isinstance(body, dict):
        raise bad_request(f"{what} must be a JSON object")
    return body


async def read_object(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object (raw bytes: a bogus charset cannot trip it)."""
    return parse_object(await request.read())
