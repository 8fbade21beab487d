"""A replica of the user service's front held in the test's own process, not in a Ray actor."""

from __future__ import annotations

from typing import Any

from streamsim.users.api import LocalDirectory
from streamsim.users.service import UserRequest


class LocalReplica(LocalDirectory):
    """One replica's users in this process, seen through the front's replica protocol.

    `stop` is left to each test: what a stopped replica reports is what the test checks.
    """

    async def create(self, request: UserRequest) -> str:
        return await self.create_user(request)

    async def show(self, user_id: str) -> dict[str, Any] | None:
        return await self.show_user(user_id)

    async def close(self, user_id: str) -> bool:
        return await self.close_user(user_id)

    async def listing(self, offset: int, limit: int) -> dict[str, Any]:
        return await self.list_users(offset, limit)
