"""The lake's layout: where the sink writes Parquet and what its files hold.

The sink judges nothing but whether bytes are a JSON object: every object lands in
`events/` with its exact text in `body`, so the warehouse can type and check it; anything
else lands in `quarantine/` with its raw bytes and the reason.

    lake/events/ingest_date=YYYY-MM-DD/ingest_hour=HH/<ingested>-<uuid>.parquet
    lake/quarantine/ingest_date=YYYY-MM-DD/<ingested>-<uuid>.parquet
    lake/truth/ingest_date=YYYY-MM-DD/<ingested>-<uuid>.parquet
    lake/consumer_lag/ingest_date=YYYY-MM-DD/ingest_hour=HH/<sampled>-<uuid>.parquet

`consumer_lag/` holds the sink group's lag, sampled by the sink process (sink/lag_samples.py):
lag is known only at the moment it is asked, so dashboards need it kept over time.

`truth/` holds the simulators' records of the faults they injected (docs/faults.md): kept
apart from `events/` so that no check can read them by mistake; only scoring does.

Every folder is named after when the sink received its rows (real time, UTC), never after
`emitted_at`: that is the emitter's claim, and a skewed device clock would scatter one batch
over many folders. So one batch writes one events file, retention and compaction work on
arrival, and the warehouse judges `emitted_at` against arrival (staging.events).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

EVENTS = "events"
QUARANTINE = "quarantine"
TRUTH = "truth"
CONSUMER_LAG = "consumer_lag"

# The type a message is counted under when it has none that can be read: the sink counts
# landed events without an `event_type` as MISSING_EVENT_TYPE, bytes it quarantines as
# UNREADABLE, and an emitter that sends such messages on purpose counts them the same way.
MISSING_EVENT_TYPE = "(missing)"
UNREADABLE = "unreadable"

# Envelope fields are kept as text exactly as sent: typing them is the warehouse's job,
# and a wrongly typed field must still reach the checks that count it.
EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("schema_version", pa.string()),
        ("emitted_at", pa.string()),
        ("source", pa.string()),
        ("run_id", pa.string()),
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("body", pa.string()),
        ("topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        # The key as text (NULL when not UTF-8): for user events the session the producer
        # keyed by, which tells a session apart when the body lost its session_id.
        ("kafka_key", pa.string()),
        ("ingested_at", pa.timestamp("ms", tz="UTC")),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("raw", pa.binary()),
        ("reason", pa.string()),
        ("topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        ("kafka_key", pa.binary()),
        ("ingested_at", pa.timestamp("ms", tz="UTC")),
    ]
)

# The fault-truth records, every field as text as it was sent (`copy` too); the warehouse
# types them in `truth.injected_faults`.
TRUTH_TEXT_FIELDS = (
    "fault_id",
    "run_id",
    "kind",
    "user_id",
    "session_id",
    "event_id",
    "event_type",
    "emitted_at",
    "payload_md5",
    "copy",
    "detail",
    "recorded_at",
)
TRUTH_SCHEMA = pa.schema(
    [
        *((name, pa.string()) for name in TRUTH_TEXT_FIELDS),
        ("topic", pa.string()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        ("ingested_at", pa.timestamp("ms", tz="UTC")),
    ]
)

LAG_SCHEMA = pa.schema(
    [
        ("sampled_at", pa.timestamp("ms", tz="UTC")),
        ("group_id", pa.string()),
        ("topic", pa.string()),
        ("lag_messages", pa.int64()),
    ]
)

ENVELOPE_TEXT_FIELDS = (
    "event_id",
    "event_type",
    "schema_version",
    "emitted_at",
    "source",
    "run_id",
    "user_id",
    "session_id",
)


def events_glob(lake_dir: Path) -> str:
    return str(lake_dir / EVENTS / "**" / "*.parquet")


def quarantine_glob(lake_dir: Path) -> str:
    return str(lake_dir / QUARANTINE / "**" / "*.parquet")


def truth_glob(lake_dir: Path) -> str:
    return str(lake_dir / TRUTH / "**" / "*.parquet")


def lag_glob(lake_dir: Path) -> str:
    return str(lake_dir / CONSUMER_LAG / "**" / "*.parquet")


def ensure_truth_readable(lake_dir: Path) -> Path:
    """An empty truth file, so the truth view binds before any fault was ever injected.

    DuckDB refuses a glob that matches no file, and a run with error factor 0 lands no
    truth at all. The file holds no rows, so it changes no count; it is dated beyond any
    retention, so that no expiry of old partitions removes it.
    """
    placeholder = lake_dir / TRUTH / "ingest_date=9999-12-31" / "empty.parquet"
    if not placeholder.exists():
        placeholder.parent.mkdir(parents=True, exist_ok=True)
        temporary = placeholder.with_name(f".{placeholder.name}.tmp")
        pq.write_table(TRUTH_SCHEMA.empty_table(), temporary)
        temporary.replace(placeholder)
    return placeholder


def ensure_lag_readable(lake_dir: Path) -> Path:
    """An empty lag file, so the lag view binds before any sink has sampled (as for truth)."""
    folder = lake_dir / CONSUMER_LAG / "ingest_date=9999-12-31" / "ingest_hour=23"
    placeholder = folder / "empty.parquet"
    if not placeholder.exists():
        folder.mkdir(parents=True, exist_ok=True)
        temporary = placeholder.with_name(f".{placeholder.name}.tmp")
        pq.write_table(LAG_SCHEMA.empty_table(), temporary)
        temporary.replace(placeholder)
    return placeholder


@contextmanager
def lake_write_lock(lake_dir: Path, *, exclusive: bool) -> Iterator[None]:
    """Sinks hold it shared while they land a batch; compaction holds it alone to swap a folder.

    A sink that renamed a file into a folder being swapped would lose that file, and a swap
    takes milliseconds, so sinks wait that long at most.
    """
    lake_dir.mkdir(parents=True, exist_ok=True)
    # The lake folder itself is the lock (Linux locks folders too): no file to leave about.
    descriptor = os.open(lake_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(descriptor)  # closing the last descriptor releases the lock
