"""The Kafka topics, one per source plus the fault truth, and how each message is keyed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamsim.events.envelope import Source


@dataclass(frozen=True)
class Topic:
    name: str
    source: Source | None  # None: not events, but records about them
    partitions: int | None  # None: the `kafka.partitions` setting


USER_TOPIC = Topic("streamsim.user-events", Source.USER, None)
SERVER_TOPIC = Topic("streamsim.server-events", Source.SERVER, None)
# One partition keeps every settings change in the order it was made.
CONTROL_TOPIC = Topic("streamsim.control-events", Source.ORCHESTRATOR, 1)

# What the simulators broke on purpose (docs/faults.md): for scoring the checks, which must
# never read it.
TRUTH_TOPIC = Topic("streamsim.fault-truth", None, None)

EVENT_TOPICS = (USER_TOPIC, SERVER_TOPIC, CONTROL_TOPIC)
TOPICS = (*EVENT_TOPICS, TRUTH_TOPIC)
_BY_SOURCE = {topic.source: topic for topic in EVENT_TOPICS}


def topic_for(source: Source) -> Topic:
    return _BY_SOURCE[source]


def partition_key(event: dict[str, Any]) -> bytes:
    """Key by session so one session's events stay in order; server life by server."""
    key = event.get("session_id") or event.get("server_id") or event.get("source") or ""
    return str(key).encode()
