"""Writing rows into the lake as Parquet files that appear whole or not at all.

A reader globbing `*.parquet` must never see a half-written file, and a file must be on
disk before the offsets that it covers are committed. So each file is written under a
hidden temporary name in its final folder, synced, renamed, and its folder synced.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from streamsim.durable import fsync_directory
from streamsim.lake import (
    ENVELOPE_TEXT_FIELDS,
    EVENT_SCHEMA,
    EVENTS,
    QUARANTINE,
    QUARANTINE_SCHEMA,
    TRUTH,
    TRUTH_SCHEMA,
    TRUTH_TEXT_FIELDS,
    lake_write_lock,
)
from streamsim.sink.records import EventRow, QuarantineRow, TruthRow

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"
# A write takes seconds; a temporary file this old was left by a sink that died.
STALE_TEMP_S = 15 * 60


def event_folder(lake_dir: Path, hour: datetime) -> Path:
    """Events are filed by the hour they arrived, not the hour their emitter claims: a
    device's clock can be off by a day, and a batch must stay one file, not one per claim."""
    return lake_dir / EVENTS / f"ingest_date={hour:%Y-%m-%d}" / f"ingest_hour={hour:%H}"


def arrival_hour(ingested_ms: int) -> datetime:
    """The UTC hour (real time) in which the sink received a row."""
    arrived = datetime.fromtimestamp(ingested_ms / 1000, UTC)
    return arrived.replace(minute=0, second=0, microsecond=0)


def quarantine_folder(lake_dir: Path, ingest_date: str) -> Path:
    return lake_dir / QUARANTINE / f"ingest_date={ingest_date}"


def truth_folder(lake_dir: Path, ingest_date: str) -> Path:
    return lake_dir / TRUTH / f"ingest_date={ingest_date}"


def file_name(now: datetime) -> str:
    """Names sort by ingest time; the uuid keeps two sinks of one group from colliding."""
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{uuid.uuid4().hex}.parquet"


def events_table(rows: Sequence[EventRow]) -> pa.Table:
    columns: dict[str, list[object]] = {
        name: [row.envelope[index] for row in rows]
        for index, name in enumerate(ENVELOPE_TEXT_FIELDS)
    }
    columns["body"] = [row.body for row in rows]
    columns["topic"] = [row.message.topic for row in rows]
    columns["kafka_partition"] = [row.message.partition for row in rows]
    columns["kafka_offset"] = [row.message.offset for row in rows]
    columns["kafka_key"] = [key_text(row.message.key) for row in rows]
    columns["ingested_at"] = [row.ingested_ms for row in rows]
    return pa.table(columns, schema=EVENT_SCHEMA)


def key_text(key: bytes | None) -> str | None:
    """A Kafka key as text; a key that is not UTF-8 has no session to tell, so it is NULL."""
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


def quarantine_table(rows: Sequence[QuarantineRow]) -> pa.Table:
    columns: dict[str, list[object]] = {
        "raw": [row.message.value for row in rows],
        "reason": [str(row.reason) for row in rows],
        "topic": [row.message.topic for row in rows],
        "kafka_partition": [row.message.partition for row in rows],
        "kafka_offset": [row.message.offset for row in rows],
        "kafka_key": [row.message.key for row in rows],
        "ingested_at": [row.ingested_ms for row in rows],
    }
    return pa.table(columns, schema=QUARANTINE_SCHEMA)


def truth_table(rows: Sequence[TruthRow]) -> pa.Table:
    columns: dict[str, list[object]] = {
        name: [row.fields[index] for row in rows] for index, name in enumerate(TRUTH_TEXT_FIELDS)
    }
    columns["topic"] = [row.message.topic for row in rows]
    columns["kafka_partition"] = [row.message.partition for row in rows]
    columns["kafka_offset"] = [row.message.offset for row in rows]
    columns["ingested_at"] = [row.ingested_ms for row in rows]
    return pa.table(columns, schema=TRUTH_SCHEMA)


def write_atomically(table: pa.Table, folder: Path, name: str) -> Path:
    """Write a Parquet file that readers see only once it is complete and on disk."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    temporary = folder / f".{name}{TEMP_SUFFIX}"
    try:
        with temporary.open("wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(folder)
    return final


def write_rows(
    lake_dir: Path,
    events: Sequence[EventRow],
    quarantined: Sequence[QuarantineRow],
    truth: Sequence[TruthRow] = (),
) -> list[Path]:
    """Write one file per lake partition that the rows touch (one for the events of a batch,
    two when it straddles an hour); returns the files written."""
    now = datetime.now(UTC)
    by_hour: defaultdict[datetime, list[EventRow]] = defaultdict(list)
    for event in events:
        by_hour[arrival_hour(event.ingested_ms)].append(event)
    by_date: defaultdict[str, list[QuarantineRow]] = defaultdict(list)
    for row in quarantined:
        by_date[_ingest_date(row.ingested_ms)].append(row)
    truth_by_date: defaultdict[str, list[TruthRow]] = defaultdict(list)
    for record in truth:
        truth_by_date[_ingest_date(record.ingested_ms)].append(record)

    with lake_write_lock(lake_dir, exclusive=False):
        written = [
            write_atomically(events_table(rows), event_folder(lake_dir, hour), file_name(now))
            for hour, rows in by_hour.items()
        ]
        written += [
            write_atomically(
                quarantine_table(rows), quarantine_folder(lake_dir, day), file_name(now)
            )
            for day, rows in by_date.items()
        ]
        written += [
            write_atomically(truth_table(rows), truth_folder(lake_dir, day), file_name(now))
            for day, rows in truth_by_date.items()
        ]
    return written


def _ingest_date(ingested_ms: int) -> str:
    return f"{arrival_hour(ingested_ms):%Y-%m-%d}"


def remove_stale_temporaries(lake_dir: Path) -> int:
    """Clear what a killed sink left half-written; a live sink's files are too young."""
    removed = 0
    cutoff = time.time() - STALE_TEMP_S
    for path in lake_dir.rglob(f".*{TEMP_SUFFIX}"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another sink of the group removed it first
    if removed:
        log.info("removed %s stale temporary files from %s", removed, lake_dir)
    return removed
