"""The fault truth in the warehouse: read apart from the events, typed, each record once."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import orjson

from streamsim.pipeline.warehouse import publish_serving_copy, run_models
from streamsim.settings import Settings
from streamsim.sink.files import write_rows
from streamsim.sink.records import Message, TruthRow, classify

from .conftest import Lake, lake_row

TRUTH = {
    "fault_id": "f-1",
    "run_id": "test-run",
    "kind": "duplicate_send",
    "user_id": "u1",
    "session_id": "s1",
    "event_id": "a",
    "event_type": "heartbeat",
    "emitted_at": "2026-12-04T10:00:05.000Z",
    "payload_md5": "0123456789abcdef0123456789abcdef",
    "copy": 2,
    "detail": "sent twice",
    "recorded_at": "2026-12-04T10:00:05.000Z",
}


def truth_row(offset: int, **changes: object) -> TruthRow:
    message = Message("streamsim.fault-truth", 0, offset, b"s1", orjson.dumps(TRUTH | changes))
    row = classify(message, datetime.now(UTC))
    assert isinstance(row, TruthRow)
    return row


def test_the_truth_view_holds_each_record_once_typed_and_no_event_row(
    settings: Settings, lake: Lake
) -> None:
    lake.write([lake_row("a")])
    first, second = truth_row(0), truth_row(1, fault_id="f-2", kind="missing_heartbeat")
    write_rows(settings.lake_dir, [], [], [first, second, first])  # the first read twice

    run_models(settings)
    publish_serving_copy(settings)

    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        faults = db.execute(
            'SELECT fault_id, kind, "copy", emitted_at FROM truth.injected_faults ORDER BY 1'
        ).fetchall()
        events = db.execute("SELECT count(*) FROM staging.events").fetchone()
    moment = datetime(2026, 12, 4, 10, 0, 5)
    assert faults == [("f-1", "duplicate_send", 2, moment), ("f-2", "missing_heartbeat", 2, moment)]
    assert events == (1,)


def test_the_truth_view_reads_an_empty_lake_before_any_fault(
    settings: Settings, lake: Lake
) -> None:
    lake.write([lake_row("a")])

    run_models(settings)
    publish_serving_copy(settings)

    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM truth.injected_faults").fetchone() == (0,)
