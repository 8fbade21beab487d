"""What the site is doing, as the page shows it: users, servers, events per second.

One poll a second, whatever number of pages are open, so watching never loads the site.
A part that does not answer shows as unreachable until it answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

POLL_S = 1.0


class SiteMonitor:
    """Polls the user service (GET /users) and the router (GET /health)."""

    def __init__(self, users_url: str, router_url: str) -> None:
        self._users_url = users_url
        self._router_url = router_url
        self.users: dict[str, Any] | None = None
        self.router: dict[str, Any] | None = None
        self._last_emitted: tuple[float, int] | None = None
        self.events_per_s: float | None = None

    async def watch_forever(self, http: aiohttp.ClientSession) -> None:
        while True:
            await self.poll(http)
            await asyncio.sleep(POLL_S)

    async def poll(self, http: aiohttp.ClientSession) -> None:
        self.users, self.router = await asyncio.gather(
            fetch_json(http, f"{self._users_url}/users?limit=0"),  # counts, no page
            fetch_json(http, f"{self._router_url}/health"),
        )
        self._update_event_rate()

    def _update_event_rate(self) -> None:
        """Events per real second from the emitters' own counts, users' and servers' alike."""
        if self.users is None or self.router is None:
            self._last_emitted, self.events_per_s = None, None
            return
        total = emitted_total(self.users) + emitted_total(self.router)
        now = time.monotonic()
        if self._last_emitted is not None and now > self._last_emitted[0]:
            then, before = self._last_emitted
            self.events_per_s = max(0, total - before) / (now - then)
        self._last_emitted = (now, total)

    def describe(self) -> dict[str, Any]:
        servers = (self.router or {}).get("servers", [])
        loads = [float(s.get("utilisation", 0.0)) for s in servers]
        return {
            "users_reachable": self.users is not None,
            "router_reachable": self.router is not None,
            "active_users": (self.users or {}).get("active"),
            "servers": [
                {k: s.get(k) for k in ("server_id", "streams", "utilisation")} for s in servers
            ],
            "server_count": len(servers) if self.router is not None else None,
            "mean_utilisation": round(sum(loads) / len(loads), 4) if loads else None,
            "events_per_s": None if self.events_per_s is None else round(self.events_per_s, 2),
        }


def emitted_total(described: dict[str, Any]) -> int:
    emitted = described.get("emitted") or {}
    return sum(int(n) for n in emitted.values()) if isinstance(emitted, dict) else 0


async def fetch_json(http: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as answer:
            if answer.status != 200:
                return None
            body = await answer.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.debug("could not read %s: %s", url, error)
        return None
    return body if isinstance(body, dict) else None
