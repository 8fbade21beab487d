"""The HTTP face of the user service, the same whether one replica or many hold the users."""

from __future__ import annotations

import json
from typing import Any, Protocol

from aiohttp import web
from pydantic import ValidationError

from streamsim.users.openapi import openapi_document
from streamsim.users.service import MAX_OFFSET, MAX_PAGE, UserRequest, UserService
from streamsim.webserve import bad_request, parse_object

DEFAULT_PAGE = 100


class UserDirectory(Protocol):
    """Where users live: one local service, or a front routing to replicas on Ray."""

    async def create_user(self, request: UserRequest) -> str: ...

    async def show_user(self, user_id: str) -> dict[str, Any] | None: ...

    async def close_user(self, user_id: str) -> bool: ...

    async def list_users(self, offset: int, limit: int) -> dict[str, Any]: ...

    def active_users(self) -> int: ...


class LocalDirectory:
    """A directory of one in-process service: tests, the benchmark, and each replica."""

    def __init__(self, service: UserService) -> None:
        self.service = service

    async def create_user(self, request: UserRequest) -> str:
        return self.service.create(request)

    async def show_user(self, user_id: str) -> dict[str, Any] | None:
        return self.service.show(user_id)

    async def close_user(self, user_id: str) -> bool:
        return await self.service.close(user_id)

    async def list_users(self, offset: int, limit: int) -> dict[str, Any]:
        return self.service.listing(offset, limit)

    def active_users(self) -> int:
        return self.service.active()


def user_app(users: UserDirectory | UserService) -> web.Application:
    """Routes; every 4xx answer is JSON whose `error` names the field at fault."""
    directory = LocalDirectory(users) if isinstance(users, UserService) else users
    routes = web.RouteTableDef()

    @routes.post("/users")
    async def create(request: web.Request) -> web.Response:
        body = await _user_request(request)
        try:
            user_id = await directory.create_user(body)
        except ValueError as error:  # a trait the model does not know
            raise bad_request(str(error)) from None
        return web.json_response({"user_id": user_id}, status=201)

    @routes.get("/users")
    async def listing(request: web.Request) -> web.Response:
        offset = _query_int(request, "offset", 0, 0, MAX_OFFSET)
        limit = _query_int(request, "limit", DEFAULT_PAGE, 0, MAX_PAGE)
        listed = await directory.list_users(offset, limit)
        listed["offset"], listed["limit"] = offset, limit
        return web.json_response(listed)

    @routes.get("/users/{user_id}")
    async def show(request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        shown = await directory.show_user(user_id)
        if shown is None:
            raise _not_found(user_id)
        return web.json_response(shown)

    @routes.delete("/users/{user_id}")
    async def close(request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        if not await directory.close_user(user_id):
            raise _not_found(user_id)
        return web.json_response({"user_id": user_id, "state": "closed"})

    @routes.get("/health")
    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, "active": directory.active_users()})

    @routes.get("/openapi.json")
    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    app = web.Application()
    app.add_routes(routes)
    app.router.add_post("/addOneUser", create)  # the name the first design used
    return app


async def _user_request(request: web.Request) -> UserRequest:
    """The optional JSON body of POST /users; an empty body asks for a user drawn at random."""
    raw = await request.read()
    if not raw.strip():
        return UserRequest()
    body = parse_object(raw, "'body'")
    try:
        return UserRequest.model_validate(body)
    except ValidationError as error:
        raise bad_request(_name_fields(error)) from None


def _name_fields(error: ValidationError) -> str:
    problems = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        problems.append(f"'{field}': {problem['msg']}")
    return "; ".join(problems)


def _query_int(request: web.Request, field: str, default: int, low: int, high: int | None) -> int:
    raw = request.query.get(field)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"'{field}' must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        limits = f"from {low}" + (f" to {high}" if high is not None else "")
        raise bad_request(f"'{field}' must be {limits}, got {value}")
    return value


def _not_found(user_id: str) -> web.HTTPNotFound:
    message = f"'user_id': no living user {user_id!r} (never created, or already closed)"
    return web.HTTPNotFound(text=json.dumps({"error": message}), content_type="application/json")
