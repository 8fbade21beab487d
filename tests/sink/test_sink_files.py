"""How rows become Parquet files in the lake layout, and that no reader sees half a file."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamsim.lake import EVENT_SCHEMA, QUARANTINE_SCHEMA
from streamsim.sink import files
from streamsim.sink.records import EventRow, Message, QuarantineRow, TruthRow, classify

INGESTED = datetime(2026, 12, 1, 14, 37, 5, tzinfo=UTC)


def row(offset: int, value: bytes | None) -> EventRow | TruthRow | QuarantineRow:
    return classify(Message("streamsim.user-events", 1, offset, b"k", value), INGESTED)


def event(offset: int, emitted_at: str) -> EventRow:
    made = row(offset, f'{{"event_id": "e{offset}", "emitted_at": "{emitted_at}"}}'.encode())
    assert isinstance(made, EventRow)
    return made


def garbage(offset: int, value: bytes | None) -> QuarantineRow:
    made = row(offset, value)
    assert isinstance(made, QuarantineRow)
    return made


def test_a_batch_lands_in_one_file_for_its_arrival_hour_whatever_the_emitters_claim(
    tmp_path: Path,
) -> None:
    events = [
        event(0, "2026-12-01T09:10:00Z"),
        event(1, "2026-12-02T13:50:00Z"),  # a clock a day ahead
        event(2, "2026-11-30T23:59:59.999Z"),  # a clock a day behind
        event(3, "not a time"),
    ]
    quarantined = [garbage(4, b"\xff"), garbage(5, None)]

    written = files.write_rows(tmp_path, events, quarantined)

    relative = sorted(str(path.parent.relative_to(tmp_path)) for path in written)
    assert relative == [
        "events/ingest_date=2026-12-01/ingest_hour=14",
        "quarantine/ingest_date=2026-12-01",
    ]
    assert pq.read_table(written[0]).num_rows == 4
    assert all(path.suffix == ".parquet" for path in written)
    assert list(tmp_path.rglob(f"*{files.TEMP_SUFFIX}")) == []


def test_a_batch_that_straddles_an_hour_lands_in_one_file_per_arrival_hour(
    tmp_path: Path,
) -> None:
    late = classify(
        Message("streamsim.user-events", 1, 9, b"k", b'{"event_id": "e9"}'),
        datetime(2026, 12, 1, 15, 0, 1, tzinfo=UTC),
    )
    assert isinstance(late, EventRow)

    written = files.write_rows(tmp_path, [event(0, "2026-12-01T15:00:00Z"), late], [])

    assert sorted(path.parent.name for path in written) == ["ingest_hour=14", "ingest_hour=15"]


def test_files_hold_the_lake_schemas_and_the_exact_bytes(tmp_path: Path) -> None:
    written = files.write_rows(
        tmp_path, [event(7, "2026-12-01T09:10:00Z")], [garbage(8, b"\x00{\xff")]
    )
    tables = {path.parts[len(tmp_path.parts)]: pq.read_table(path) for path in written}

    assert tables["events"].schema.equals(EVENT_SCHEMA)
    assert tables["events"].column("event_id").to_pylist() == ["e7"]
    assert tables["events"].column("kafka_offset").to_pylist() == [7]
    assert tables["events"].column("kafka_key").to_pylist() == ["k"]
    assert tables["events"].column("ingested_at").to_pylist() == [INGESTED]
    assert tables["quarantine"].schema.equals(QUARANTINE_SCHEMA)
    assert tables["quarantine"].column("raw").to_pylist() == [b"\x00{\xff"]
    assert tables["quarantine"].column("reason").to_pylist() == ["not_utf8"]
    assert tables["quarantine"].column("kafka_key").to_pylist() == [b"k"]


def test_an_event_keeps_its_key_as_text_unless_the_key_is_not_utf8() -> None:
    assert [files.key_text(key) for key in (b"s-1", b"\xff", None)] == ["s-1", None, None]


def test_a_failed_write_leaves_neither_a_parquet_file_nor_a_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail_midway(table: pa.Table, where: object, **_: object) -> None:
        assert not isinstance(where, str | Path)
        where.write(b"PAR1 half a file")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(files.pq, "write_table", fail_midway)

    with pytest.raises(OSError, match="disk full"):
        files.write_rows(tmp_path, [event(0, "2026-12-01T09:10:00Z")], [])

    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


def test_only_old_temporaries_are_cleared_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "events" / "ingest_date=2026-12-01" / "ingest_hour=09"
    folder.mkdir(parents=True)
    old = folder / f".old.parquet{files.TEMP_SUFFIX}"
    fresh = folder / f".fresh.parquet{files.TEMP_SUFFIX}"
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    long_ago = time.time() - files.STALE_TEMP_S - 60
    os.utime(old, (long_ago, long_ago))

    assert files.remove_stale_temporaries(tmp_path) == 1
    assert not old.exists()
    assert fresh.exists()
