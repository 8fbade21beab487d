"""Fixtures for the pipeline tests: a state folder of their own and a hand for the sink."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

# Before anything imports SQLMesh: its usage analytics start with the first import.
os.environ["SQLMESH__DISABLE_ANONYMIZED_ANALYTICS"] = "true"

from streamsim.lake import EVENT_SCHEMA
from streamsim.settings import Settings, load_settings
from streamsim.sink.files import file_name


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(state_dir=tmp_path / "state")


def lake_row(
    event_id: str | None,
    *,
    event_type: str = "heartbeat",
    source: str = "user",
    emitted_at: str = "2026-12-04T10:00:05.000Z",
    offset: int = 0,
    ingested_at: datetime | None = None,
    **body_fields: Any,
) -> dict[str, Any]:
    """One row as the sink writes it: envelope text plus the whole event in `body`."""
    envelope = {
        "event_id": event_id,
        "event_type": event_type,
        "schema_version": "1",
        "emitted_at": emitted_at,
        "source": source,
        "run_id": "test-run",
        "user_id": "u1" if source == "user" else None,
        "session_id": "s1" if source == "user" else None,
    }
    return {
        **envelope,
        "body": json.dumps({**envelope, "schema_version": 1, **body_fields}),
        "topic": f"streamsim.{source}-events",
        "kafka_partition": 0,
        "kafka_offset": offset,
        "ingested_at": ingested_at or datetime.now(UTC),
    }


@dataclass
class Lake:
    """Writes event files the way the sink does: complete, then renamed into place."""

    settings: Settings

    def write(
        self, rows: Iterable[dict[str, Any]], hour: str = "10", written: datetime | None = None
    ) -> Path:
        """A file named, as the sink names it, after the time it is `written` (default now)."""
        folder = (
            self.settings.lake_dir / "events" / "ingest_date=2026-12-04" / f"ingest_hour={hour}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        stamp = file_name(written or datetime.now(UTC))
        final = folder / stamp
        temp = final.with_suffix(".tmp")
        pq.write_table(pa.Table.from_pylist(list(rows), schema=EVENT_SCHEMA), temp)
        temp.rename(final)
        return final


@pytest.fixture
def lake(settings: Settings) -> Lake:
    return Lake(settings)


_HOLD_THE_LOCK = """
import os, sys, time
from pathlib import Path
from streamsim.pipeline.warehouse import writer_lock
from streamsim.settings import load_settings

with writer_lock(load_settings(state_dir=Path(sys.argv[1]))):
    if sys.argv[2] == "fork" and os.fork() == 0:
        time.sleep(120)  # a child forked while the lock is held, as SQLMesh's workers are
        os._exit(0)
    print("held", flush=True)
    time.sleep(120)
"""


@contextmanager
def writer_lock_held_elsewhere(
    settings: Settings, fork_a_child: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """Another process holding the warehouse's writer lock while the block runs; it and any
    child it forked are killed at the end."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_THE_LOCK, str(settings.state), "fork" if fork_a_child else ""],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        yield holder
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
