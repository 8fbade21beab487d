"""The site figures the page shows, read from the user service and the router."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from streamsim.orchestrator.monitor import SiteMonitor


class Site:
    """GET /users and GET /health as the user service and the router answer them."""

    def __init__(self) -> None:
        self.user_events = 100
        self.server_events = 50

    async def users(self, _: web.Request) -> web.Response:
        body = {"active": 7, "emitted": {"play": self.user_events}}
        return web.json_response(body)

    async def health(self, _: web.Request) -> web.Response:
        servers = [
            {"server_id": "server-1", "streams": 40, "utilisation": 0.4, "url": "x"},
            {"server_id": "server-2", "streams": 80, "utilisation": 0.8, "url": "y"},
        ]
        return web.json_response({"servers": servers, "emitted": {"x": self.server_events}})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/users", self.users)
        app.router.add_get("/health", self.health)
        return app


async def watch(site: Site, down: bool = False) -> dict[str, Any]:
    async with TestServer(site.app(), host="127.0.0.1", port=0) as server:
        url = str(server.make_url("")).rstrip("/")
        if down:
            await server.close()
        monitor = SiteMonitor(url, url)
        async with aiohttp.ClientSession() as http:
            await monitor.poll(http)
            site.user_events += 30
            site.server_events += 20
            await asyncio.sleep(0.5)
            await monitor.poll(http)
        return monitor.describe()


@pytest.mark.timeout(30)
def test_the_monitor_reports_users_servers_and_events_per_second() -> None:
    figures = asyncio.run(watch(Site()))

    assert figures["active_users"] == 7
    assert figures["server_count"] == 2
    assert figures["mean_utilisation"] == pytest.approx(0.6)
    # 50 events in a little over half a second
    assert 60 < figures["events_per_s"] <= 100


@pytest.mark.timeout(30)
def test_parts_that_do_not_answer_show_as_unreachable() -> None:
    figures = asyncio.run(watch(Site(), down=True))

    assert figures["users_reachable"] is False and figures["router_reachable"] is False
    assert figures["active_users"] is None and figures["events_per_s"] is None
