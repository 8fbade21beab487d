"""Judging one Kafka message: an event for the lake, or bytes for quarantine with a reason.

The sink checks nothing but that the bytes are a JSON object. Everything deeper (types,
enums, ranges) is the warehouse's job, so that every fault still reaches a check that
counts it. A message of the fault-truth topic is judged the same way but becomes a truth
row, which lands apart from the events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from streamsim.events.topics import TRUTH_TOPIC
from streamsim.lake import ENVELOPE_TEXT_FIELDS, TRUTH_TEXT_FIELDS


class QuarantineReason(StrEnum):
    NO_VALUE = "no_value"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    # Valid JSON whose escapes spell a lone surrogate: no UTF-8 text (and no Parquet
    # string column) can hold it.
    NOT_UNICODE = "not_unicode"


@dataclass(frozen=True, slots=True)
class Message:
    """The parts of a Kafka record the lake keeps, free of any client library's types."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class EventRow:
    """A JSON object, its envelope as text in `ENVELOPE_TEXT_FIELDS` order."""

    message: Message
    envelope: tuple[str | None, ...]
    body: str
    ingested_ms: int

    @property
    def event_type(self) -> str | None:
        return self.envelope[_EVENT_TYPE_INDEX]


@dataclass(frozen=True, slots=True)
class TruthRow:
    """A fault-truth record, its fields as text in `TRUTH_TEXT_FIELDS` order."""

    message: Message
    fields: tuple[str | None, ...]
    ingested_ms: int


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    message: Message
    reason: QuarantineReason
    ingested_ms: int


_EVENT_TYPE_INDEX = ENVELOPE_TEXT_FIELDS.index("event_type")


class _NotJson(ValueError):
    """Raised for the constants Python's json accepts but JSON does not (NaN, Infinity)."""


def _reject_constant(name: str) -> Any:
    raise _NotJson(name)


def parse_json(text: str) -> Any:
    """Parse strict JSON fast, without quarantining the rare valid text orjson refuses.

    orjson refuses numbers beyond a double's range (1e400); the standard library reads
    them, so a message is only called "not JSON" when both say so.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text, parse_constant=_reject_constant)


def envelope_text(value: object) -> str | None:
    """A string stays as sent, JSON null is SQL null, anything else becomes its JSON text.

    orjson reads an integer beyond 64 bits as a float, so that rare field's text can differ
    from what was sent; `body` still holds it exactly.
    """
    if value is None or isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        # Integers beyond 64 bits: only the standard library can write them back.
        return json.dumps(value)


def classify(message: Message, ingested_at: datetime) -> EventRow | TruthRow | QuarantineRow:
    """Turn one message into the row that lands in the lake; never raises on bad bytes."""
    ingested_ms = int(ingested_at.timestamp() * 1000)
    parsed = read_object(message.value)
    if isinstance(parsed, QuarantineReason):
        return QuarantineRow(message, parsed, ingested_ms)
    text, fields = parsed
    names = TRUTH_TEXT_FIELDS if message.topic == TRUTH_TOPIC.name else ENVELOPE_TEXT_FIELDS
    columns = tuple(envelope_text(fields.get(name)) for name in names)
    if not all(_encodable(column) for column in columns):
        return QuarantineRow(message, QuarantineReason.NOT_UNICODE, ingested_ms)
    if names is TRUTH_TEXT_FIELDS:
        return TruthRow(message, columns, ingested_ms)
    return EventRow(message, columns, text, ingested_ms)


def read_object(value: bytes | None) -> tuple[str, dict[str, Any]] | QuarantineReason:
    """The text and the JSON object it spells, or why the bytes are neither."""
    if value is None:
        return QuarantineReason.NO_VALUE
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return QuarantineReason.NOT_UTF8
    try:
        parsed = parse_json(text)
    except (ValueError, RecursionError):
        return QuarantineReason.NOT_JSON
    if not isinstance(parsed, dict):
        return QuarantineReason.NOT_OBJECT
    return text, parsed


def _encodable(text: str | None) -> bool:
    if text is None:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
