"""The faults a buggy client puts on the wire, injected on purpose, and the truth about each.

A user created with error factor f sends each of its messages faulty with probability f.
The kind is drawn by weight among the kinds that make sense for that event (a heartbeat can
go missing, a page view has no position to break). What each kind sends is documented in
`docs/faults.md`; `FaultInjector` does it and records one truth record per fault, so the
data-quality checks can be scored against what was really broken.

The injector draws from its own generator, derived from the user's seed: a seeded user
walks the same session at any error factor, only its messages differ.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from streamsim.events.envelope import format_site_time
from streamsim.events.faults import FaultKind
from streamsim.events.types import EventType
from streamsim.lake import MISSING_EVENT_TYPE, UNREADABLE
from streamsim.sink.records import envelope_text
from streamsim.users.catalogue import Catalogue

Event = dict[str, Any]


# Kinds that change one message and send it once: a duplicate's original, a late message and
# both beats of an extra heartbeat are drawn again among these, so at f=1 they are faulty too.
SINGLE_MESSAGE_KINDS = frozenset(FaultKind) - {
    FaultKind.DUPLICATE_SEND,
    FaultKind.EXTRA_HEARTBEAT,
    FaultKind.MISSING_HEARTBEAT,
    FaultKind.OUT_OF_ORDER,
}
UNREADABLE_KINDS = frozenset({FaultKind.TRUNCATED_PAYLOAD, FaultKind.NOT_JSON})

# The envelope fields a client sets; `run_id` is the simulation's own bookkeeping (no real
# client sends it), so no fault touches it and a run's messages can always be counted.
ENVELOPE_FIELDS = (
    "event_id",
    "event_type",
    "schema_version",
    "emitted_at",
    "source",
    "user_id",
    "session_id",
)
# Fields every user event of a type must carry with a value (docs/events.md).
BODY_FIELDS: dict[str, tuple[str, ...]] = {
    EventType.SESSION_STARTED: ("country", "device", "browser", "connection"),
    EventType.PAGE_VIEWED: ("page", "page_number"),
    EventType.VIDEO_OPENED: ("video_id", "category", "via"),
    EventType.PLAYBACK_STARTED: (
        "video_id",
        "position_s",
        "server_id",
        "stream_id",
        "video_start_time_ms",
    ),
    EventType.PLAYBACK_ABANDONED: ("video_id", "position_s", "waited_ms", "refusals", "reason"),
    EventType.PLAYBACK_PAUSED: ("video_id", "position_s"),
    EventType.PLAYBACK_RESUMED: ("video_id", "position_s"),
    EventType.PLAYBACK_SEEKED: ("video_id", "from_s", "to_s", "direction"),
    EventType.HEARTBEAT: ("video_id", "position_s", "stream_id"),
    EventType.VIDEO_ENDED: ("video_id", "position_s"),
    EventType.VIDEO_SKIPPED: ("video_id", "position_s", "next"),
    EventType.SESSION_ENDED: ("videos_watched",),
}
# Values outside each enum field's set, as a client with a newer or broken build sends.
ENUM_MISTAKES: dict[str, tuple[str, ...]] = {
    "source": ("mobile-app", "client", "web-player"),
    "country": ("XX", "Atlantis", "usa"),
    "device": ("toaster", "smart-fridge", "console"),
    "browser": ("netscape", "mosaic", "lynx"),
    "connection": ("5g", "satellite", "carrier-pigeon"),
    "page": ("trending", "profile"),
    "via": ("autoplay_v2", "email"),
    "direction": ("sideways", "rewind_fast"),
    "reason": ("bored", "cat_on_keyboard"),
    "next": ("teleport", "logout"),
    "restart_reason": ("cosmic_rays",),
}
UNKNOWN_EVENT_TYPES = (
    "heartbeet",
    "playback_start_v2",
    "videoOpened",
    "page_view",
    "click",
    "SESSION_STARTED",
)
POSITION_FIELDS = ("position_s", "from_s", "to_s")
SKEW_HOURS = (1.0, 24.0)


def required_fields(event: Event) -> list[str]:
    """The fields this event must carry, among those it does carry with a value."""
    wanted = (*ENVELOPE_FIELDS, *BODY_FIELDS.get(str(event.get("event_type")), ()))
    return [name for name in wanted if event.get(name) is not None]


def enum_fields(event: Event) -> list[str]:
    return [name for name in ENUM_MISTAKES if isinstance(event.get(name), str)]


def position_fields(event: Event) -> list[str]:
    return [name for name in POSITION_FIELDS if isinstance(event.get(name), int | float)]


def applicable_kinds(event: Event, holding: bool = False) -> list[FaultKind]:
    """The kinds that can break this event; `holding`: one message is already held back."""
    kind = event.get("event_type")
    kinds = [FaultKind(k) for k in FaultKind]
    ruled_out: set[FaultKind] = set()
    if event.get("video_id") is None:
        ruled_out.add(FaultKind.UNKNOWN_VIDEO_ID)
    if not position_fields(event) or event.get("video_id") is None:
        ruled_out |= {FaultKind.NEGATIVE_POSITION, FaultKind.IMPOSSIBLE_POSITION}
    if not enum_fields(event):
        ruled_out.add(FaultKind.UNKNOWN_ENUM_VALUE)
    if kind == EventType.SESSION_STARTED:
        ruled_out.add(FaultKind.UNKNOWN_SESSION_ID)
    if kind == EventType.SESSION_ENDED or holding:
        ruled_out.add(FaultKind.OUT_OF_ORDER)
    if kind != EventType.HEARTBEAT:
        ruled_out |= {FaultKind.MISSING_HEARTBEAT, FaultKind.EXTRA_HEARTBEAT}
    return [k for k in kinds if k not in ruled_out]


def payload_md5(payload: bytes) -> str:
    return hashlib.md5(payload, usedforsecurity=False).hexdigest()


def counted_type(payload: bytes, sent: Event | None) -> str:
    """The type a message is counted under: what the sink will read from it, or unreadable."""
    if sent is None:
        return UNREADABLE
    return envelope_text(sent.get("event_type")) or MISSING_EVENT_TYPE


@dataclass(frozen=True)
class FaultOutlet:
    """Where a faulty user's messages go besides clean events: exact bytes, and the truth."""

    send_bytes: Callable[[bytes, bytes, str], None]  # payload, Kafka key, type counted under
    record: Callable[[Event], None]  # one truth record


@dataclass(frozen=True)
class Broken:
    """One message as a fault left it: the bytes, the object they spell (if any), what changed."""

    payload: bytes
    sent: Event | None
    detail: str


class FaultInjector:
    """Sends one user's messages, each faulty with probability `error_factor`."""

    def __init__(
        self,
        *,
        seed: int,
        error_factor: float,
        weights: Mapping[FaultKind, float],
        catalogue: Catalogue,
        emit: Callable[[Event], None],
        outlet: FaultOutlet,
        now: Callable[[], float],
    ) -> None:
        # A string seed: its own stream, unrelated to the behaviour generator's `seed`.
        self._rng = random.Random(f"faults:{seed}")
        self._f = error_factor
        self._weights = weights
        self._catalogue = catalogue
        self._emit, self._outlet, self._now = emit, outlet, now
        self._held: Event | None = None

    def send(self, event: Event) -> None:
        """Send one message as this user's client would, faults and all."""
        held = self._held
        sent_any = self._send_one(event, holding=held is not None)
        if held is not None and sent_any and _later(event, held):
            self._held = None
            self._send_late(held, f"sent after {event['event_type']}")

    def flush(self) -> None:
        """The session is over: a message still held back goes out now."""
        held, self._held = self._held, None
        if held is not None:
            self._send_late(held, "sent at the session's end")

    def _send_one(self, event: Event, holding: bool) -> bool:
        """True when something went on the wire for this event."""
        kind = self._draw(event, holding)
        if kind is None:
            self._emit(event)
        elif kind == FaultKind.OUT_OF_ORDER:
            self._held = event
            return False
        elif kind == FaultKind.MISSING_HEARTBEAT:
            self._truth(kind, event, None, copy=1, detail="not sent")
            return False
        elif kind == FaultKind.DUPLICATE_SEND:
            self._duplicate(event, self._send_perhaps_broken(event))
        elif kind == FaultKind.EXTRA_HEARTBEAT:
            self._send_perhaps_broken(event)
            self._extra_beat(event)
        else:
            self._send_broken(event, kind)
        return True

    def _draw(
        self, event: Event, holding: bool = False, among: frozenset[FaultKind] | None = None
    ) -> FaultKind | None:
        """With probability f, a kind by weight among those that apply; None for clean."""
        if self._f <= 0 or self._rng.random() >= self._f:
            return None
        kinds = [k for k in applicable_kinds(event, holding) if among is None or k in among]
        weights = [self._weights.get(kind, 1.0) for kind in kinds]
        if sum(weights) <= 0:
            return None  # every kind that fits this event is weighted out
        return self._rng.choices(kinds, weights)[0]

    def _send_perhaps_broken(self, event: Event) -> bytes:
        """A message a sequence fault moved or added: itself drawn again, as one message."""
        kind = self._draw(event, among=SINGLE_MESSAGE_KINDS)
        if kind is None:
            payload = orjson.dumps(event)
            self._send_bytes(payload, event, event)
            return payload
        return self._send_broken(event, kind)

    def _send_broken(self, event: Event, kind: FaultKind) -> bytes:
        broken = BREAKERS[kind](event, self._rng, self._catalogue)
        self._send_bytes(broken.payload, event, broken.sent)
        self._truth(kind, event, broken.payload, copy=1, detail=broken.detail)
        return broken.payload

    def _duplicate(self, event: Event, payload: bytes) -> None:
        sent = _parsed(payload)
        self._send_bytes(payload, event, sent)
        self._truth(FaultKind.DUPLICATE_SEND, event, payload, copy=2, detail="sent twice")

    def _extra_beat(self, event: Event) -> None:
        """A timer that fired twice: the same beat again under an id of its own."""
        extra_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        payload = self._send_perhaps_broken({**event, "event_id": extra_id})
        self._truth(FaultKind.EXTRA_HEARTBEAT, event, payload, copy=1, detail=extra_id)

    def _send_late(self, event: Event, detail: str) -> None:
        """A held-back message goes out, itself drawn again like any message it stands for."""
        payload = self._send_perhaps_broken(event)
        self._truth(FaultKind.OUT_OF_ORDER, event, payload, copy=1, detail=detail)

    def _send_bytes(self, payload: bytes, event: Event, sent: Event | None) -> None:
        """Keyed by the session the message names (a made-up one, say), else the user's own."""
        named = sent.get("session_id") if sent is not None else None
        session = named if isinstance(named, str) and named else event["session_id"]
        self._outlet.send_bytes(payload, str(session).encode(), counted_type(payload, sent))

    def _truth(
        self, kind: FaultKind, event: Event, payload: bytes | None, *, copy: int, detail: str
    ) -> None:
        self._outlet.record(
            {
                "fault_id": str(uuid.uuid4()),
                "run_id": event.get("run_id"),
                "kind": str(kind),
                "user_id": event.get("user_id"),
                "session_id": event.get("session_id"),
                "event_id": event.get("event_id"),
                "event_type": event.get("event_type"),
                "emitted_at": event.get("emitted_at"),
                "payload_md5": None if payload is None else payload_md5(payload),
                "copy": copy,
                "detail": detail,
                "recorded_at": format_site_time(self._now()),
            }
        )


def _later(event: Event, held: Event) -> bool:
    """A held message goes out once one emitted after it has, so its lateness shows."""
    return str(event.get("emitted_at")) > str(held.get("emitted_at"))


def _parsed(payload: bytes) -> Event | None:
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


# --- what each kind does to one message --------------------------------------------------

Breaker = Callable[[Event, random.Random, Catalogue], Broken]


def _as_json(sent: Event, detail: str) -> Broken:
    return Broken(orjson.dumps(sent), sent, detail)


def _missing_field(event: Event, rng: random.Random, _: Catalogue) -> Broken:
    name = rng.choice(required_fields(event))
    return _as_json({k: v for k, v in event.items() if k != name}, name)


def _null_field(event: Event, rng: random.Random, _: Catalogue) -> Broken:
    name = rng.choice(required_fields(event))
    return _as_json({**event, name: None}, name)


def _wrong_type(event: Event, rng: random.Random, _: Catalogue) -> Broken:
    """A number as text, text as a number, the time as epoch seconds."""
    name = rng.choice([n for n in required_fields(event) if n != "event_type"])
    value = event[name]
    if name == "emitted_at":
        wrong: Any = datetime.fromisoformat(value).timestamp()
    elif isinstance(value, int | float):
        wrong = str(value)
    else:
        wrong = rng.randint(1, 99_999)
    return _as_json({**event, name: wrong}, name)


def _unknown_event_type(event: Event, rng: random.Random, _: Catalogue) -> Broken:
    name = rng.choice(UNKNOWN_EVENT_TYPES)
    return _as_json({**event, "event_type": name}, name)


def _unknown_enum_value(event: Event, rng: random.Random, _: Catalogue) -> Broken:
    name = rng.choice(enum_fields(event))
    value = rng.choice(ENUM_MISTAKES[name])
    return _as_json({**event, name: value}, f"{name}={value}")


def _unknown_video_id(event: Event, rng: random.Random, _: Catalogue) -> Broken:
    video_id = f"vx{rng.getrandbits(32):08x}"  # catalogue ids are v + five digits
    return _as_json({**event, "video_id": video_id}, video_id)


def _negative_position(event: Event, rng: random.Random, _: Catalogue) -> Broken:
    name = rng.choice(position_fields(event))
    value = -round(rng.uniform(0.5, 600.0), 3)
    return _as_json({**event, name: value}, f"{name}={value}")


def _impossible_position(event: Event, rng: random.Random, catalogue: Catalogue) -> Broken:
    name = rng.choice(position_fields(event))
    video = catalogue.find(str(event["video_id"]))
    duration = video.duration_s if video else 0.0
    value = round(duration + rng.uniform(2.0, 600.0), 3)
    return _as_json({**event, name: value}, f"{name}={value} of {duration}")


def _skewed(sign: int) -> Breaker:
    def skew(event: Event, rng: random.Random, _: Catalogue) -> Broken:
        hours = sign * rng.uniform(*SKEW_HOURS)
        moment = datetime.fromisoformat(event["emitted_at"]).timestamp() + hours * 3600
        return _as_json({**event, "emitted_at": format_site_time(moment)}, f"{hours:+.2f} h")

    return skew


def _unknown_session_id(event: Event, rng: random.Random, _: Catalogue) -> Broken:
    session_id = str(uuid.uuid4())
    return _as_json({**event, "session_id": session_id}, session_id)


def _truncated(event: Event, rng: random.Random, _: Catalogue) -> Broken:
    """Cut after the event id at the earliest, so that no two cut messages are the same bytes."""
    whole = orjson.dumps(event)
    earliest = whole.find(str(event.get("event_id")).encode()) + len(str(event.get("event_id")))
    cut = rng.randint(max(1, earliest), len(whole) - 1)
    return Broken(whole[:cut], None, f"cut at {cut} of {len(whole)} bytes")


def _not_json(event: Event, rng: random.Random, _: Catalogue) -> Broken:
    """What a broken client or a proxy sends instead: a log line, an error page, noise.

    Each carries something of its own (the event id, a request id, random bytes), so no two
    are the same bytes and each can be told apart by its md5.
    """
    shape = rng.choice(("log line", "html page", "binary"))
    if shape == "log line":
        text = (
            f"{event['emitted_at']} ERROR player: could not serialise {event['event_type']} "
            f"{event['event_id']} (TypeError: cyclic object value)\n"
        )
        payload = text.encode()
    elif shape == "html page":
        payload = (
            "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
            "<body><h1>502 Bad Gateway</h1><p>The upstream server did not answer.</p>"
            f"<hr><small>request {uuid.uuid4().hex}</small></body></html>"
        ).encode()
    else:
        payload = b"\xff\xfe" + rng.randbytes(rng.randint(8, 64))  # never UTF-8
    return Broken(payload, None, shape)


BREAKERS: dict[FaultKind, Breaker] = {
    FaultKind.MISSING_FIELD: _missing_field,
    FaultKind.NULL_FIELD: _null_field,
    FaultKind.WRONG_TYPE: _wrong_type,
    FaultKind.UNKNOWN_EVENT_TYPE: _unknown_event_type,
    FaultKind.UNKNOWN_ENUM_VALUE: _unknown_enum_value,
    FaultKind.UNKNOWN_VIDEO_ID: _unknown_video_id,
    FaultKind.NEGATIVE_POSITION: _negative_position,
    FaultKind.IMPOSSIBLE_POSITION: _impossible_position,
    FaultKind.CLOCK_SKEW_PAST: _skewed(-1),
    FaultKind.CLOCK_SKEW_FUTURE: _skewed(+1),
    FaultKind.UNKNOWN_SESSION_ID: _unknown_session_id,
    FaultKind.TRUNCATED_PAYLOAD: _truncated,
    FaultKind.NOT_JSON: _not_json,
}
