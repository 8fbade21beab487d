"""Spreading users over replicas: fill one, add one when full, retire the empty, route by id."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamsim.clock import SiteClock
from streamsim.users.replicas import Replica, ReplicaSet
from streamsim.users.service import UserRequest, UserService

from .fake_player import FakePlayer
from .local_replica import LocalReplica


class InProcessReplica(LocalReplica):
    """A replica as the front sees one, holding its users in this process."""

    def __init__(self, index: int) -> None:
        super().__init__(
            UserService(
                clock=SiteClock.starting_now(1.0),
                player=FakePlayer(),
                emit=lambda _: None,
                heartbeat_s=10.0,
                run_id="r1",
                id_prefix=f"u{index}",
                emitted=lambda: {"heartbeat": 1},
            )
        )
        self.stopped = False

    async def stop(self) -> dict[str, dict[str, int]]:
        await self.service.close_all()
        self.stopped = True
        return {"emitted": {"session_ended": 1}}


@pytest.mark.timeout(20)
def test_users_fill_a_replica_then_spill_into_a_new_one_and_are_found_by_id() -> None:
    spawned: list[InProcessReplica] = []

    async def spawn(index: int) -> Replica:
        spawned.append(InProcessReplica(index))
        return spawned[-1]

    async def scenario() -> tuple[list[str], dict[str, Any], bool, dict[str, Any]]:
        replicas = ReplicaSet(spawn, per_replica=2)
        ids = [await replicas.create_user(UserRequest()) for _ in range(5)]
        shown = await replicas.show_user(ids[4])
        closed = await replicas.close_user(ids[0])
        listing = await replicas.list_users(1, 2)
        await replicas.stop()
        return ids, shown or {}, closed, listing

    ids, shown, closed, listing = asyncio.run(scenario())

    assert [user_id.split("-")[0] for user_id in ids] == ["u1", "u1", "u2", "u2", "u3"]
    assert shown["user_id"] == ids[4]
    assert closed
    assert (listing["active"], listing["replicas"]) == (4, 3)
    assert [u["user_id"] for u in listing["users"]] == ids[2:4]
    assert listing["emitted"] == {"heartbeat": 3}
    assert all(replica.stopped for replica in spawned)


@pytest.mark.timeout(20)
def test_replicas_left_empty_are_retired_but_never_the_first() -> None:
    spawned: list[InProcessReplica] = []

    async def spawn(index: int) -> Replica:
        spawned.append(InProcessReplica(index))
        return spawned[-1]

    async def scenario() -> tuple[int, int, list[dict[str, dict[str, int]]]]:
        replicas = ReplicaSet(spawn, per_replica=1)
        ids = [await replicas.create_user(UserRequest()) for _ in range(3)]
        await replicas.close_user(ids[1])
        await replicas.refresh()
        after_one_left = replicas.replicas()
        for user_id in (ids[0], ids[2]):
            await replicas.close_user(user_id)
        await replicas.refresh()
        return after_one_left, replicas.replicas(), await replicas.stop()

    after_one_left, at_the_end, counts = asyncio.run(scenario())

    assert (after_one_left, at_the_end) == (2, 1)
    assert [replica.stopped for replica in spawned] == [True, True, True]
    assert len(counts) == 3  # two retired and the first, each counted once


@pytest.mark.timeout(20)
def test_an_id_no_replica_holds_is_not_found() -> None:
    async def spawn(index: int) -> Replica:
        return InProcessReplica(index)

    async def scenario() -> tuple[Any, bool]:
        replicas = ReplicaSet(spawn, per_replica=5)
        await replicas.ensure_one()
        found = await replicas.show_user("u7-1-00000000"), await replicas.close_user("nobody")
        await replicas.stop()
        return found

    assert asyncio.run(scenario()) == (None, False)


class RefusingReplica(InProcessReplica):
    """Refuses the first creation, as a replica does a trait its model lacks."""

    refusals = 1

    async def create(self, request: UserRequest) -> str:
        if self.refusals:
            self.refusals -= 1
            raise ValueError("'traits.device' must be one of …")
        return await super().create(request)


@pytest.mark.timeout(20)
def test_a_refused_creation_takes_no_place_and_an_overlong_id_finds_no_one() -> None:
    async def spawn(index: int) -> Replica:
        return RefusingReplica(index)

    async def scenario() -> tuple[int, int, dict[str, Any] | None]:
        replicas = ReplicaSet(spawn, per_replica=2)
        with pytest.raises(ValueError):
            await replicas.create_user(UserRequest())
        await replicas.create_user(UserRequest())
        await replicas.create_user(UserRequest())
        shown = await replicas.show_user("u" + "9" * 5000 + "-1-x")
        active, count = replicas.active_users(), replicas.replicas()
        await replicas.stop()
        return active, count, shown

    assert asyncio.run(scenario()) == (2, 1, None)  # both fit the first replica
