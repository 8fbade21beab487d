"""The user's video player talking to the streaming servers over HTTP."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp


class NoServerAvailable(Exception):
    """Every server was full: the player waits and tries again."""


class StreamLost(Exception):
    """The server holding the stream stopped answering."""


@dataclass(frozen=True)
class StreamHandle:
    stream_id: str
    server_id: str
    server_url: str
    granted_at: float = field(default_factory=time.monotonic)


class Player:
    """Asks the router for a stream, then steers it on the server that holds it."""

    # Servers the router lists, refreshed by `watch_servers`; None: not watched, all trusted.
    _live_servers: frozenset[str] | None = None
    _listed_at = 0.0  # time.monotonic() of that list

    def __init__(self, http: aiohttp.ClientSession, router_url: str) -> None:
        self._http = http
        self._router_url = router_url

    def still_serving(self, stream: StreamHandle) -> bool:
        """Whether the stream's server is still up, as far as the last look could tell.

        A real player notices at once when its video stalls; ours plays on a timer, so it
        asks this at every heartbeat instead of waiting for its next request to fail.
        """
        if self._live_servers is None or self._listed_at <= stream.granted_at:
            return True  # a list older than the stream cannot know its server
        return stream.server_id in self._live_servers

    async def watch_servers(self, every_s: float = 1.0) -> None:
        """Keep the list of live servers fresh: one request a second for every user here."""
        while True:
            try:
                async with self._http.get(f"{self._router_url}/health") as answer:
                    if answer.status == 200:
                        body = await answer.json()
                        self._live_servers = frozenset(
                            str(server["server_id"]) for server in body.get("servers", [])
                        )
                        self._listed_at = time.monotonic()
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
                pass  # keep the last list: a router hiccup is not every server lost
            await asyncio.sleep(every_s)

    async def start(self, request: dict[str, Any]) -> StreamHandle:
        """A stream on some server; NoServerAvailable when none can take it right now.

        A router that is down or answers badly is, to a viewer, the same as a full site:
        the player waits and asks again.
        """
        try:
            async with self._http.post(f"{self._router_url}/streams", json=request) as answer:
                if answer.status != 201:
                    raise NoServerAvailable(f"router answered {answer.status}")
                reply = await answer.json()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise NoServerAvailable(f"router unreachable: {error}") from error
        return StreamHandle(reply["stream_id"], reply["server_id"], reply["server_url"])

    async def act(self, stream: StreamHandle, action: str, **body: Any) -> None:
        url = f"{stream.server_url}/streams/{stream.stream_id}/{action}"
        try:
            async with self._http.post(url, json=body) as answer:
                answer.raise_for_status()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise StreamLost(f"{stream.server_id}: {error!r}") from error
