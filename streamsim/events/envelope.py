"""The one envelope every event wears, whoever emits it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from streamsim.events.types import EventType

SCHEMA_VERSION = 1


class Source(StrEnum):
    USER = "user"
    SERVER = "server"
    ORCHESTRATOR = "orchestrator"


def format_site_time(site_epoch_s: float) -> str:
    """ISO 8601 in UTC with milliseconds, the one time format on the wire."""
    moment = datetime.fromtimestamp(site_epoch_s, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event(
    event_type: EventType,
    source: Source,
    *,
    site_time: float,
    run_id: str,
    user_id: str | None = None,
    session_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Build an event: the envelope first, then the fields of its type."""
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": str(event_type),
        "schema_version": SCHEMA_VERSION,
        "emitted_at": format_site_time(site_time),
        "source": str(source),
        "run_id": run_id,
        "user_id": user_id,
        "session_id": session_id,
        **fields,
    }
