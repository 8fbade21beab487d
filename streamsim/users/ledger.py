"""What each simulated user did, kept by the simulation itself rather than read from events.

The warehouse computes sessions, plays and watch time from the events that reached it; the
ledger is the other witness. A test compares the two over a seeded run, so the record is
taken where the user acts (first frame, each stretch of play), never from what it emits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamsim.events.envelope import format_site_time


@dataclass
class PlayRecord:
    """One play: a video whose first frame came, and the seconds of it that played."""

    video_id: str
    started_at: float  # site time of the first frame
    watched_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "started_at": format_site_time(self.started_at),
            "watched_s": round(self.watched_s, 3),
        }


@dataclass
class SessionRecord:
    """One browser session as its user lived it."""

    user_id: str
    session_id: str
    started_at: float | None = None
    ended_at: float | None = None
    plays: list[PlayRecord] = field(default_factory=list)

    def opened(self, at: float) -> None:
        self.started_at = at

    def closed(self, at: float) -> None:
        self.ended_at = at

    def play_started(self, video_id: str, at: float) -> None:
        self.plays.append(PlayRecord(video_id, at))

    def played(self, seconds: float) -> None:
        """Seconds of the current play that went by with the video playing."""
        if self.plays:
            self.plays[-1].watched_s += seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "session_id": self.session_id,
            "started_at": None if self.started_at is None else format_site_time(self.started_at),
            "ended_at": None if self.ended_at is None else format_site_time(self.ended_at),
            "plays": [play.as_dict() for play in self.plays],
        }


class UsersLedger:
    """The sessions of one replica's users, finished or not, in the order they began.

    It grows by about a hundred bytes a play; a replica hands it back once, when it stops.
    """

    def __init__(self) -> None:
        self._sessions: list[SessionRecord] = []

    def keep(self, record: SessionRecord) -> None:
        self._sessions.append(record)

    def as_list(self) -> list[dict[str, Any]]:
        return [record.as_dict() for record in self._sessions if record.started_at is not None]
