"""Producing test traffic and waiting on the sink, shared by the broker-using tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.dataset as ds

from streamsim.bus import Emitter
from streamsim.events import EventType, Source, new_event
from streamsim.settings import Settings
from streamsim.sink import SinkReport, consumer_lag, run_sink

SinkSettingsFactory = Callable[..., Settings]

GARBAGE_REASONS = {
    b"\xff\xfe not utf-8 %s": "not_utf8",
    b'{"event_id": "%s", "event_ty': "not_json",
    b'[{"event_id": "%s"}]': "not_object",
    b'"%s"': "not_object",
}


def read_lake(lake_dir: Path, kind: str) -> pa.Table:
    dataset = ds.dataset(lake_dir / kind, format="parquet", partitioning="hive")
    return dataset.to_table()


def produce_events(
    bootstrap: str, run_id: str, count: int, spacing_s: float = 1.0
) -> dict[str, bytes]:
    """Send `count` events over the three topics; returns each event's exact bytes by id."""
    sent: dict[str, bytes] = {}
    sources = [Source.USER, Source.SERVER, Source.ORCHESTRATOR]
    types = [EventType.HEARTBEAT, EventType.STREAM_HEARTBEAT, EventType.SETTINGS_CHANGED]
    emitters = [Emitter(bootstrap, source) for source in sources]
    for index in range(count):
        which = index % 3
        event = new_event(
            types[which],
            sources[which],
            site_time=time.time() - index * spacing_s,
            run_id=run_id,
            session_id=f"s{index % 50}",
            position_s=index,
        )
        payload = orjson.dumps(event)
        emitters[which].emit_bytes(payload, str(event["session_id"]).encode(), event["event_type"])
        sent[event["event_id"]] = payload
    for emitter in emitters:
        emitter.close()
        assert not emitter.counts()["failed"]
    return sent


def produce_garbage(bootstrap: str, marker: str) -> dict[bytes, str]:
    emitter = Emitter(bootstrap, Source.USER)
    sent = {template % marker.encode(): reason for template, reason in GARBAGE_REASONS.items()}
    for payload in sent:
        emitter.emit_bytes(payload, b"garbage", "garbage")
    emitter.close()
    return sent


def total_lag(settings: Settings) -> int:
    return sum(consumer_lag(settings).values())


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@contextmanager
def sink_thread(settings: Settings) -> Iterator[list[SinkReport]]:
    """Run the sink beside the test; leaving the block stops it and fills in its report."""
    stop = threading.Event()
    reports: list[SinkReport] = []
    thread = threading.Thread(target=lambda: reports.append(run_sink(settings, stop)))
    thread.start()
    try:
        yield reports
    finally:
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the sink did not stop within 60 s of being told to"
