"""The orchestrator's HTTP face: the control page, the config API and the live figures."""

from __future__ import annotations

import hmac
import ipaddress
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from streamsim.errors import StreamsimError
from streamsim.orchestrator.live import Refusal, RefusedChange
from streamsim.orchestrator.monitor import SiteMonitor
from streamsim.orchestrator.openapi import openapi_document
from streamsim.orchestrator.service import Orchestrator
from streamsim.settings import OrchestratorSettings

STATIC_DIR = Path(__file__).parent / "static"
TOKEN_HEADER = "Authorization"  # as `Authorization: Bearer <token>`


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_bind_is_safe(config: OrchestratorSettings) -> None:
    """Anyone who can reach a non-loopback address could steer the run: demand a token."""
    if not is_loopback(config.host) and not token_of(config):
        raise StreamsimError(
            f"the orchestrator would listen on {config.host}, beyond loopback, with no token: "
            "set STREAMSIM_ORCHESTRATOR__TOKEN (or orchestrator.token) or bind to 127.0.0.1"
        )


def token_of(config: OrchestratorSettings) -> str | None:
    return config.token.get_secret_value() if config.token is not None else None


def may_change(request: web.Request, config: OrchestratorSettings) -> bool:
    if is_loopback(config.host):
        return True
    token = token_of(config)
    given = request.headers.get(TOKEN_HEADER, "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(given.encode(), str(token).encode())


def refused(refusals: list[Refusal]) -> web.Response:
    body: dict[str, Any] = {
        "detail": "; ".join(r.line() for r in refusals),
        "errors": [r.as_dict() for r in refusals],
    }
    return web.json_response(body, status=422)


class OrchestratorApi:
    """Routes; each handler is a few lines over the orchestrator and the monitor."""

    def __init__(self, orchestrator: Orchestrator, monitor: SiteMonitor | None = None) -> None:
        self.orchestrator = orchestrator
        self.monitor = monitor

    async def get_config(self, _: web.Request) -> web.Response:
        return web.json_response(self.orchestrator.wave.model_dump())

    async def put_config(self, request: web.Request) -> web.Response:
        return await self._change(request, whole=True)

    async def patch_config(self, request: web.Request) -> web.Response:
        return await self._change(request, whole=False)

    async def _change(self, request: web.Request, *, whole: bool) -> web.Response:
        if not may_change(request, self.orchestrator.config):
            message = f"changing settings here needs the token ({TOKEN_HEADER}: Bearer <token>)"
            return web.json_response({"detail": message}, status=401)
        try:
            # Raw bytes: a charset the request names but Python lacks cannot trip the read.
            change: Any = json.loads(await request.read())
        except ValueError as error:
            return refused([Refusal("body", f"is not JSON ({error})", "a JSON object")])
        except RecursionError:
            return refused([Refusal("body", "nests deeper than we parse", "a JSON object")])
        try:
            wave = self.orchestrator.change(change, whole=whole)
        except RefusedChange as refusal:
            return refused(refusal.refusals)
        return web.json_response(wave.model_dump())

    async def stats(self, _: web.Request) -> web.Response:
        site = self.monitor.describe() if self.monitor is not None else {}
        config = self.orchestrator.config
        token_required = not is_loopback(config.host)
        return web.json_response(
            {**self.orchestrator.describe(), "site": site, "token_required": token_required}
        )

    async def openapi(self, _: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    async def page(self, _: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def health(self, _: web.Request) -> web.Response:
        return web.json_response({"ok": True})


def orchestrator_app(
    orchestrator: Orchestrator, monitor: SiteMonitor | None = None
) -> web.Application:
    api = OrchestratorApi(orchestrator, monitor)
    app = web.Application()
    app.router.add_get("/", api.page)
    app.router.add_static("/static", STATIC_DIR)
    app.router.add_get("/api/config", api.get_config)
    app.router.add_put("/api/config", api.put_config)
    app.router.add_patch("/api/config", api.patch_config)
    app.router.add_get("/api/stats", api.stats)
    app.router.add_get("/api/openapi.json", api.openapi)
    app.router.add_get("/health", api.health)
    return app
