"""A player that talks to no server: it records what a user asks of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamsim.users.player import NoServerAvailable, Player, StreamHandle, StreamLost


@dataclass
class FakePlayer(Player):
    """Answers `NoServerAvailable` `busy_answers` times, then hands out numbered streams.

    With `lose_on` set, the first action of that kind finds the server gone.
    """

    busy_answers: int = 0
    lose_on: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    started: list[StreamHandle] = field(default_factory=list)
    actions: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def start(self, request: dict[str, Any]) -> StreamHandle:
        self.requests.append(request)
        if self.busy_answers > 0:
            self.busy_answers -= 1
            raise NoServerAvailable("every server is full")
        handle = StreamHandle(f"stream-{len(self.started) + 1}", "s-1", "http://127.0.0.1:1")
        self.started.append(handle)
        return handle

    async def act(self, stream: StreamHandle, action: str, **body: Any) -> None:
        if action == self.lose_on:
            self.lose_on = None
            raise StreamLost(f"{stream.server_id} is gone")
        self.actions.append((stream.stream_id, action, body))

    def stopped(self) -> list[str]:
        return [stream_id for stream_id, action, _ in self.actions if action == "stop"]

    def open_streams(self) -> set[str]:
        """Streams started and never stopped."""
        return {h.stream_id for h in self.started} - set(self.stopped())
