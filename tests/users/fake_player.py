"""A player that talks to no server: it records what a user asks of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamsim.users.player import NoServerAvailable, Player, StreamHandle


@dataclass
class FakePlayer(Player):
    """Answers `NoServerAvailable` `busy_answers` times, then hands out numbered streams."""

    busy_answers: int = 0
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
        self.actions.append((stream.stream_id, action, body))

    def stopped(self) -> list[str]:
        return [stream_id for stream_id, action, _ in self.actions if action == "stop"]
