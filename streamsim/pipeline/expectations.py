"""What the platform expects of its events: the one list the models, checks and docs share.

The field table mirrors docs/events.md. The warehouse model `reference.event_fields` is
built from it, so a field added here is checked everywhere at once; the enums that depend
on the behaviour model (countries, devices, categories, ...) are read from that model.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from streamsim.events import (
    ORCHESTRATOR_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    USER_EVENT_TYPES,
    EventType,
)
from streamsim.users.catalogue import Catalogue
from streamsim.users.model import OPEN_ACTIONS, PAGE_ACTIONS, load_model


class Severity(StrEnum):
    ERROR = "error"
    WARN = "warn"


@dataclass(frozen=True)
class Expectation:
    name: str
    severity: Severity
    rule: str


# Per-message expectations, in the order of quality.event_checks' columns.
EXPECTATIONS = (
    Expectation("parseable", Severity.ERROR, "the bytes are one UTF-8 JSON object"),
    Expectation("schema_valid", Severity.ERROR, "every documented field has its JSON type"),
    Expectation("required_fields", Severity.ERROR, "every required field is present, not null"),
    Expectation("accepted_values", Severity.ERROR, "type, source and enums in their sets"),
    Expectation("valid_ranges", Severity.ERROR, "positions within the video, counts >= 0"),
    Expectation("unique_event_id", Severity.ERROR, "no event_id arrives twice"),
    Expectation("known_video", Severity.ERROR, "video_id is in the catalogue"),
    Expectation("known_session", Severity.ERROR, "a user event's session was started"),
    Expectation("timely", Severity.WARN, "emitted_at agrees with the site clock at arrival"),
    Expectation("in_session_order", Severity.WARN, "emitted_at never goes back in a session"),
    Expectation("heartbeat_cadence", Severity.WARN, "a heartbeat per 10 s of play, no extra"),
    Expectation("reconciled", Severity.WARN, "a user's stream is known to a server"),
)
EXPECTATION_NAMES = tuple(expectation.name for expectation in EXPECTATIONS)

# JSON kinds: "string", "number" (integer or not), "integer", "any".
_STRING, _NUMBER, _INTEGER, _ANY = "string", "number", "integer", "any"


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    required: bool = True
    nullable: bool = False
    accepted: tuple[str, ...] | None = None


def _video(*more: Field) -> tuple[Field, ...]:
    return (Field("video_id", _STRING), Field("position_s", _NUMBER), *more)


def _stream(*more: Field) -> tuple[Field, ...]:
    ids = ("server_id", "stream_id", "video_id", "user_id", "session_id")
    return (*(Field(name, _STRING) for name in ids), Field("position_s", _NUMBER), *more)


STOP_REASONS = ("ended", "user_left", "paused", "timeout", "server_draining", "server_lost")
SKIP_NEXT = (*OPEN_ACTIONS, *PAGE_ACTIONS, "close")
SETTINGS = ("max_rate", "period_s", "floor", "error_factor", "arrivals")


def type_fields(traits: dict[str, tuple[str, ...]]) -> dict[str, tuple[Field, ...]]:
    """The fields of each type after the envelope; `traits` holds the model's enums."""
    categories = traits["category"]
    return {
        EventType.SESSION_STARTED: tuple(
            Field(name, _STRING, accepted=traits[name])
            for name in ("country", "device", "browser", "connection")
        ),
        EventType.PAGE_VIEWED: (
            Field("page", _STRING, accepted=("home", "search", "browse")),
            Field("page_number", _INTEGER),
            Field("category", _STRING, nullable=True, accepted=categories),
        ),
        EventType.VIDEO_OPENED: (
            Field("video_id", _STRING),
            Field("category", _STRING, accepted=categories),
            Field("via", _STRING, accepted=OPEN_ACTIONS),
        ),
        EventType.PLAYBACK_STARTED: _video(
            Field("server_id", _STRING),
            Field("stream_id", _STRING),
            Field("video_start_time_ms", _INTEGER),
            Field("restart_reason", _STRING, required=False, accepted=("stream_lost",)),
        ),
        EventType.PLAYBACK_ABANDONED: _video(
            Field("waited_ms", _INTEGER),
            Field("refusals", _INTEGER),
            Field("reason", _STRING, accepted=("no_server", "slow_start")),
        ),
        EventType.PLAYBACK_PAUSED: _video(),
        EventType.PLAYBACK_RESUMED: _video(),
        EventType.PLAYBACK_SEEKED: (
            Field("video_id", _STRING),
            Field("from_s", _NUMBER),
            Field("to_s", _NUMBER),
            Field("direction", _STRING, accepted=("forward", "back")),
        ),
        EventType.HEARTBEAT: _video(Field("stream_id", _STRING)),
        EventType.VIDEO_ENDED: _video(),
        EventType.VIDEO_SKIPPED: _video(Field("next", _STRING, accepted=SKIP_NEXT)),
        EventType.SESSION_ENDED: (Field("videos_watched", _INTEGER),),
        EventType.STREAM_STARTED: _stream(),
        EventType.STREAM_SEEKED: _stream(Field("from_s", _NUMBER)),
        EventType.STREAM_HEARTBEAT: _stream(),
        EventType.STREAM_STOPPED: _stream(Field("reason", _STRING, accepted=STOP_REASONS)),
        EventType.SERVER_STARTED: (Field("server_id", _STRING), Field("capacity", _INTEGER)),
        EventType.SERVER_UTILISATION: (
            Field("server_id", _STRING),
            Field("streams", _INTEGER),
            Field("capacity", _INTEGER),
            Field("utilisation", _NUMBER),
        ),
        EventType.SERVER_DRAINING: (Field("server_id", _STRING), Field("streams", _INTEGER)),
        EventType.SERVER_STOPPED: (Field("server_id", _STRING),),
        EventType.SCALING_DECIDED: (
            Field("servers", _INTEGER),
            Field("desired_servers", _INTEGER),
            Field("utilisation", _NUMBER),
            Field("reason", _STRING),
        ),
        EventType.SETTINGS_CHANGED: (
            Field("setting", _STRING, accepted=SETTINGS),
            Field("old_value", _ANY, nullable=True),
            Field("new_value", _ANY),
        ),
    }


def _source_of(event_type: str) -> str:
    if event_type in USER_EVENT_TYPES:
        return "user"
    if event_type in SERVER_EVENT_TYPES:
        return "server"
    assert event_type in ORCHESTRATOR_EVENT_TYPES
    return "orchestrator"


def envelope(event_type: str | None) -> tuple[Field, ...]:
    """The envelope of a known type (its source fixed), or of an unknown one (anything)."""
    known = tuple(sorted(EventType))
    source = (_source_of(event_type),) if event_type else ("user", "server", "orchestrator")
    user = event_type in USER_EVENT_TYPES
    return (
        Field("event_id", _STRING),
        Field("event_type", _STRING, accepted=known),
        Field("schema_version", _INTEGER),
        Field("emitted_at", _STRING),
        Field("source", _STRING, accepted=source),
        Field("run_id", _STRING),
        Field("user_id", _STRING, nullable=not user),
        Field("session_id", _STRING, nullable=not user),
    )


def model_enums(model_file: Path | None) -> dict[str, tuple[str, ...]]:
    """Enum values the behaviour model decides: traits and video categories."""
    model = load_model(model_file)
    return {
        "country": tuple(model.traits.countries),
        "device": tuple(model.traits.devices),
        "browser": tuple(model.traits.browsers),
        "connection": tuple(model.traits.connections),
        "category": tuple(model.catalogue.categories),
    }


def field_rows(model_file: Path | None) -> list[dict[str, object]]:
    """One row per (event type, field): the spec `reference.event_fields` holds.

    The type `*` stands for any type not in the catalogue, which is judged on its envelope.
    """
    rows: list[dict[str, object]] = []
    per_type = type_fields(model_enums(model_file))
    for event_type in [*sorted(per_type), None]:
        fields = envelope(event_type) + (per_type[event_type] if event_type else ())
        rows += [
            {
                "event_type": event_type or "*",
                "field": field.name,
                "kind": field.kind,
                "required": field.required,
                "nullable": field.nullable,
                "accepted": list(field.accepted) if field.accepted is not None else None,
            }
            for field in fields
        ]
    return rows


def catalogue_rows(model_file: Path | None) -> list[dict[str, object]]:
    catalogue = Catalogue(load_model(model_file).catalogue)
    return [
        {
            "video_id": video.video_id,
            "category": video.category,
            "duration_s": video.duration_s,
            "rank": video.rank,
        }
        for video in catalogue.videos
    ]
