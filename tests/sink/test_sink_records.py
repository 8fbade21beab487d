"""How the sink judges a single message, and which lake partition it files it under."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from streamsim.lake import ENVELOPE_TEXT_FIELDS, TRUTH_TEXT_FIELDS
from streamsim.sink.files import write_rows
from streamsim.sink.records import (
    EventRow,
    Message,
    QuarantineReason,
    QuarantineRow,
    TruthRow,
    classify,
)

INGESTED = datetime(2026, 12, 1, 14, 37, 5, tzinfo=UTC)


def message(value: bytes | None) -> Message:
    return Message("streamsim.user-events", 3, 42, b"session-1", value)


def as_event(value: bytes) -> EventRow:
    row = classify(message(value), INGESTED)
    assert isinstance(row, EventRow), row
    return row


def as_quarantined(value: bytes | None) -> QuarantineRow:
    row = classify(message(value), INGESTED)
    assert isinstance(row, QuarantineRow), row
    return row


def envelope(row: EventRow) -> dict[str, str | None]:
    return dict(zip(ENVELOPE_TEXT_FIELDS, row.envelope, strict=True))


def test_a_json_object_becomes_an_event_with_its_exact_text_as_body() -> None:
    raw = (
        b'{"event_id": "e1", "event_type": "heartbeat", "schema_version": 1,'
        b' "emitted_at": "2026-11-30T23:59:59.999Z", "source": "user", "run_id": "r",'
        b' "user_id": "u1", "session_id": "s1", "position_s": 12.5, "note": "caf\xc3\xa9"}'
    )
    row = as_event(raw)
    assert row.body == raw.decode()
    assert envelope(row) == {
        "event_id": "e1",
        "event_type": "heartbeat",
        "schema_version": "1",
        "emitted_at": "2026-11-30T23:59:59.999Z",
        "source": "user",
        "run_id": "r",
        "user_id": "u1",
        "session_id": "s1",
    }
    assert row.event_type == "heartbeat"
    assert row.ingested_ms == int(INGESTED.timestamp() * 1000)


def test_non_string_envelope_fields_are_kept_as_their_json_text() -> None:
    raw = orjson.dumps(
        {
            "event_id": 17,
            "event_type": ["play"],
            "schema_version": 1.5,
            "source": {"kind": "user"},
            "user_id": True,
            "session_id": None,
        }
    )
    fields = envelope(as_event(raw))
    assert fields["event_id"] == "17"
    assert fields["event_type"] == '["play"]'
    assert fields["schema_version"] == "1.5"
    assert fields["source"] == '{"kind":"user"}'
    assert fields["user_id"] == "true"
    assert fields["session_id"] is None


def test_missing_envelope_fields_are_null() -> None:
    fields = envelope(as_event(b'{"event_type": "page_viewed"}'))
    assert fields["event_type"] == "page_viewed"
    assert [name for name, value in fields.items() if value is None] == [
        name for name in ENVELOPE_TEXT_FIELDS if name != "event_type"
    ]


def test_a_number_beyond_a_doubles_range_is_still_json() -> None:
    row = as_event(b'{"event_id": 123456789012345678901234567890, "position_s": 1e400}')
    assert envelope(row)["event_id"] == "123456789012345678901234567890"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, QuarantineReason.NO_VALUE),
        (b"\xff\xfe{}", QuarantineReason.NOT_UTF8),
        (b'{"event_id": "e\xc3"}', QuarantineReason.NOT_UTF8),
        (b'{"event_id": "e1", "event_ty', QuarantineReason.NOT_JSON),
        (b"", QuarantineReason.NOT_JSON),
        (b"{'event_id': 'e1'}", QuarantineReason.NOT_JSON),
        (b'{"position_s": NaN}', QuarantineReason.NOT_JSON),
        (b"[" * 100_000, QuarantineReason.NOT_JSON),
        (b'[{"event_id": "e1"}]', QuarantineReason.NOT_OBJECT),
        (b'"just a string"', QuarantineReason.NOT_OBJECT),
        (b"null", QuarantineReason.NOT_OBJECT),
        (b"42", QuarantineReason.NOT_OBJECT),
    ],
)
def test_anything_but_a_json_object_is_quarantined_with_its_reason(
    raw: bytes | None, reason: QuarantineReason
) -> None:
    row = as_quarantined(raw)
    assert row.reason == reason
    assert row.message.value == raw
    assert row.message.key == b"session-1"


def test_an_event_with_a_numeric_emitted_at_keeps_it_as_text() -> None:
    row = as_event(b'{"event_id": "e1", "emitted_at": 1764600000}')
    assert envelope(row)["emitted_at"] == "1764600000"


def test_json_that_spells_a_lone_surrogate_is_quarantined_and_the_batch_still_writes(
    tmp_path: Path,
) -> None:
    # Valid JSON, yet no UTF-8 string (nor a Parquet string column) can hold "\ud800".
    odd = as_quarantined(b'{"event_id": "e-1", "event_type": "\\ud800"}')
    good = as_event(b'{"event_id": "e-2", "event_type": "heartbeat"}')

    written = write_rows(tmp_path, [good], [odd])

    assert odd.reason == QuarantineReason.NOT_UNICODE
    assert len(written) == 2


def truth_message(value: bytes) -> Message:
    return Message("streamsim.fault-truth", 0, 7, b"session-1", value)


def test_a_truth_record_becomes_a_truth_row_with_its_fields_as_text() -> None:
    record = {"fault_id": "f1", "kind": "not_json", "copy": 2, "payload_md5": None}

    row = classify(truth_message(orjson.dumps(record)), INGESTED)

    assert isinstance(row, TruthRow)
    fields = dict(zip(TRUTH_TEXT_FIELDS, row.fields, strict=True))
    assert (fields["fault_id"], fields["kind"], fields["copy"]) == ("f1", "not_json", "2")
    assert fields["payload_md5"] is None and fields["event_id"] is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [(b"{not json", QuarantineReason.NOT_JSON), (b"[1, 2]", QuarantineReason.NOT_OBJECT)],
)
def test_a_truth_message_that_cannot_be_read_is_quarantined(
    value: bytes, reason: QuarantineReason
) -> None:
    row = classify(truth_message(value), INGESTED)

    assert isinstance(row, QuarantineRow)
    assert (row.reason, row.message.topic) == (reason, "streamsim.fault-truth")


def test_truth_rows_land_in_their_own_folder_never_among_the_events(tmp_path: Path) -> None:
    truth = classify(truth_message(b'{"fault_id": "f1"}'), INGESTED)
    event = as_event(b'{"event_id": "e1", "emitted_at": "2026-12-01T14:00:00Z"}')
    assert isinstance(truth, TruthRow)

    written = write_rows(tmp_path, [event], [], [truth])

    folders = sorted(path.parent.relative_to(tmp_path).parts[0] for path in written)
    assert folders == ["events", "truth"]
    truth_file = next(path for path in written if "truth" in path.parts)
    assert truth_file.parent.name == "ingest_date=2026-12-01"
