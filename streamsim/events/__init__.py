"""The event envelope, the event types and the topics they travel on."""

from streamsim.events.envelope import SCHEMA_VERSION, Source, new_event
from streamsim.events.topics import TOPICS, Topic, topic_for
from streamsim.events.types import (
    ORCHESTRATOR_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    USER_EVENT_TYPES,
    EventType,
)

__all__ = [
    "ORCHESTRATOR_EVENT_TYPES",
    "SCHEMA_VERSION",
    "SERVER_EVENT_TYPES",
    "TOPICS",
    "USER_EVENT_TYPES",
    "EventType",
    "Source",
    "Topic",
    "new_event",
    "topic_for",
]
