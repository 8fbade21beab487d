"""The sink's running counts, kept in a file so `streamsim status` needs no connection."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from streamsim.settings import Settings


def utc_now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class SinkReport:
    """What one sink process has done since it started; also its status file's content."""

    started_at: str = field(default_factory=utc_now_text)
    state: str = "starting"
    messages_read: int = 0
    events_landed: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)
    truth_landed: int = 0  # fault-truth records, landed apart from the events
    files_written: int = 0
    batches: int = 0
    commits_failed: int = 0
    last_commit_at: str | None = None
    last_batch_events: int = 0
    last_batch_seconds: float = 0.0

    @property
    def events_total(self) -> int:
        return sum(self.events_landed.values())

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "state": self.state,
            "started_at": self.started_at,
            "updated_at": utc_now_text(),
            "messages_read": self.messages_read,
            "events_total": self.events_total,
            "events_landed": dict(sorted(self.events_landed.items())),
            "quarantined_total": self.quarantined_total,
            "quarantined": dict(sorted(self.quarantined.items())),
            "truth_landed": self.truth_landed,
            "files_written": self.files_written,
            "batches": self.batches,
            "commits_failed": self.commits_failed,
            "last_commit_at": self.last_commit_at,
            "last_batch_events": self.last_batch_events,
            "last_batch_seconds": round(self.last_batch_seconds, 3),
        }


def status_path(settings: Settings) -> Path:
    return settings.state / "sink" / "status.json"


def write_status(path: Path, report: SinkReport) -> None:
    """Replace the file whole, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2))
    os.replace(temporary, path)


def read_status(settings: Settings) -> dict[str, Any] | None:
    """The last status a sink wrote, or None when no sink has run in this state folder."""
    try:
        loaded = orjson.loads(status_path(settings).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None
