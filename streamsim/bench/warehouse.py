"""What the warehouse costs and how fresh it is: model time per million events, the time of
one incremental run early and late in a long run, and emitted-to-queryable freshness.

The first two use a synthetic lake written with pyarrow in the shape the sink writes
(envelope text, the JSON body, Kafka coordinates, one file per sink batch and hour); the
models run exactly as the pipeline runs them. A load is set beside DuckDB alone copying the
same files into one table, the floor any model run has on this machine. Freshness needs the
real path, so it starts `streamsim up` at default settings on free loopback ports for a short
while and watches the serving copy as a reader would: an event is queryable when the first
copy holding it is published (the copy's modification time), and at speed 1 its `emitted_at`
is wall time.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streamsim.bench.quality import check_positive
from streamsim.errors import StreamsimError
from streamsim.lake import EVENT_SCHEMA, events_glob
from streamsim.pipeline.project import FRESH_MODELS, QUALITY_MODELS
from streamsim.pipeline.warehouse import publish_serving_copy, run_models
from streamsim.settings import Settings, load_settings
from streamsim.sink.files import event_folder, file_name

DESCRIPTION = "model time per million events, early vs late incremental runs, freshness p50/p95"

# Share of each event type in a default-wave run (heartbeats dominate, as in the real lake).
_TYPES = {
    "heartbeat": 0.45,
    "stream_heartbeat": 0.25,
    "server_utilisation": 0.05,
    "scaling_decided": 0.02,
    "page_viewed": 0.06,
    "video_opened": 0.04,
    "playback_started": 0.04,
    "stream_started": 0.04,
    "video_ended": 0.02,
    "stream_stopped": 0.0195,
    "server_started": 0.0005,
    "session_started": 0.005,
    "session_ended": 0.005,
}
# What a server says about one of its streams, keyed (as the servers key it) by the session.
_STREAM_TYPES = {"stream_started", "stream_heartbeat", "stream_stopped"}
# What a server says about itself, keyed by the server; the group's decisions name none.
_SERVER_LIFE_TYPES = {"server_utilisation", "server_started"}
_GROUP_TYPES = {"scaling_decided"}
_SERVERS = 8
FILE_ROWS = 20_000  # the sink's largest batch
INCREMENT_FILES = 30  # an increment is the sink's files of one minute, one every 2 s
_SESSIONS_PER_TEN_MINUTES = 5_000


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=3_000_000, help="synthetic lake size")
    parser.add_argument("--history-hours", type=int, default=24, help="hours in the late lake")
    parser.add_argument("--new-events", type=int, default=20_000, help="events per increment")
    parser.add_argument(
        "--stack-seconds", type=float, default=150.0, help="real seconds of the stack run"
    )
    parser.add_argument("--no-stack", action="store_true", help="skip the freshness run")
    parser.add_argument("--no-models", action="store_true", help="only the freshness run")
    parser.add_argument(
        "--scratch",
        type=Path,
        help="keep the lakes and the stack's state in this folder (without it: a temporary "
        "folder, removed at the end)",
    )


def check_options(options: argparse.Namespace) -> None:
    """Refuse sizes no figure means anything by before minutes of writing lakes."""
    check_positive(options, ("events", "history_hours", "new_events", "stack_seconds"))
    if options.no_models and options.no_stack:
        raise StreamsimError("--no-models and --no-stack together leave nothing to measure")
    if not options.no_models and options.events < options.history_hours:
        raise StreamsimError(
            f"--events {options.events} cannot fill {options.history_hours} hours of history: "
            "give at least one event per hour"
        )
    if not options.no_models and options.new_events < INCREMENT_FILES:
        raise StreamsimError(
            f"--new-events must be at least {INCREMENT_FILES} (an increment is "
            f"{INCREMENT_FILES} sink files), not {options.new_events}"
        )


def run(settings: Settings, options: argparse.Namespace) -> dict[str, Any]:
    check_options(options)
    result: dict[str, Any] = {"setup": _setup(options), "load_average_1m": os.getloadavg()[0]}
    try:
        with _sigterm_interrupts(), _audit_warnings_off():
            result.update(_measure(options))
    except KeyboardInterrupt:
        raise StreamsimError(
            "bench warehouse interrupted: nothing measured; the stack it started (if any) has "
            "stopped" + ("" if options.scratch else " and its temporary folder is removed")
        ) from None
    return result


def _measure(options: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-warehouse-") as scratch:
        root = options.scratch or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        if not options.no_models:
            result["model_run"] = bench_full_load(root / "full", options.events)
            result["incremental"] = bench_incremental(root, options)
        if not options.no_stack:
            result["freshness"] = bench_freshness(root / "stack", options.stack_seconds)
    return result


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops the bench as Ctrl-C does: through every `finally`, so the stack it
    started is stopped and its temporary lakes removed (by default SIGTERM ends Python at
    once, leaving both behind)."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _audit_warnings_off() -> Iterator[None]:
    """The synthetic bodies fail some data-quality expectations (they leave out fields some
    types require and name videos outside the catalogue), and SQLMesh logs each failing audit
    with its query, pages of it around the JSON. Only the warnings go: a failed run raises."""
    console = logging.getLogger("sqlmesh.core.console")
    level = console.level
    console.setLevel(logging.ERROR)
    try:
        yield
    finally:
        console.setLevel(level)


def _setup(options: argparse.Namespace) -> str:
    parts = []
    if not options.no_models:
        parts.append(
            f"synthetic lake of {options.events:,} events in files of {FILE_ROWS:,} rows; "
            f"incremental runs of {options.new_events:,} new events after 1 hour and after "
            f"{options.history_hours} hours of history (compacted as upkeep leaves it)"
        )
    if not options.no_stack:
        parts.append("freshness from `streamsim up` at default settings, from the serving copy")
    return "; ".join(parts)


# --- the synthetic lake ------------------------------------------------------------------


def synthetic_events(count: int, ingested: datetime, rng: np.random.Generator) -> pa.Table:
    """`count` events as the sink lands them, all ingested at `ingested`.

    Coherent where the models join: a session's user events and its stream's events share the
    session, the stream (one per session) is named the same by its start, beats and stop, and
    each session plays on one of a few servers, which report on themselves by their own key.
    """
    kinds = pa.array(rng.choice(list(_TYPES), size=count, p=np.array(list(_TYPES.values()))))
    ids = pa.array([uuid.uuid4().hex for _ in range(count)])
    # Sessions last minutes, as the simulated users' do: drawn from the ten minutes the events
    # arrive in, so a session's events sit close together and a new event's session rebuild
    # reads a few minutes of history, not all of it.
    numbers = rng.integers(0, _SESSIONS_PER_TEN_MINUTES, size=count)
    sessions = pa.array(np.char.add(f"s{int(ingested.timestamp() // 600)}-", numbers.astype(str)))
    servers = pa.array(np.char.add("srv-", (numbers % _SERVERS + 1).astype(str)))
    emitted = _emitted_text(ingested, count, rng)
    is_stream = _of(kinds, _STREAM_TYPES)
    is_server = _of(kinds, _STREAM_TYPES | _SERVER_LIFE_TYPES | _GROUP_TYPES)
    has_session = pc.invert(pc.and_not(is_server, is_stream))  # user events and streams
    has_server = pc.invert(_of(kinds, _GROUP_TYPES))
    source = pc.if_else(is_server, "server", "user")
    session_id = pc.if_else(has_session, sessions, None)
    user_id = pc.if_else(has_session, pc.binary_join_element_wise("u", sessions, ""), None)
    server_id = pc.if_else(pc.and_(is_server, has_server), servers, None)
    stream_id = pc.if_else(is_stream, pc.binary_join_element_wise("st-", sessions, ""), None)
    body = pc.binary_join_element_wise(
        '{"event_id":"', ids, '","event_type":"', kinds, '","schema_version":1,"emitted_at":"',
        emitted, '","source":"', source, '","run_id":"bench"',
        _json_field("user_id", user_id), _json_field("session_id", session_id),
        ',"video_id":"v', pa.array((numbers % 1_999 + 1).astype(str)),
        '","position_s":', pa.array(rng.uniform(0, 600, size=count).round(1).astype(str)),
        _json_field("server_id", server_id), _json_field("stream_id", stream_id), "}", "",
    )  # fmt: skip
    return pa.table(
        {
            "event_id": ids,
            "event_type": kinds,
            "schema_version": pa.array(["1"] * count),
            "emitted_at": emitted,
            "source": source,
            "run_id": pa.array(["bench"] * count),
            "user_id": user_id,
            "session_id": session_id,
            "body": body,
            "topic": pc.if_else(is_server, "streamsim.server-events", "streamsim.user-events"),
            "kafka_partition": pa.array(rng.integers(0, 6, size=count), pa.int32()),
            "kafka_offset": pa.array(np.arange(count, dtype="int64")),
            # As the emitters key them (streamsim.events.topics.partition_key).
            "kafka_key": pc.coalesce(session_id, server_id, source),
            "ingested_at": pa.array([ingested] * count, pa.timestamp("ms", tz="UTC")),
        },
        schema=EVENT_SCHEMA,
    )


def _of(kinds: pa.Array, types: set[str]) -> pa.Array:
    return pc.is_in(kinds, pa.array(sorted(types)))


def _emitted_text(ingested: datetime, count: int, rng: np.random.Generator) -> pa.Array:
    """Emission times a few seconds before arrival, in the wire format."""
    emitted_s = ingested.timestamp() - rng.uniform(0.2, 3.0, size=count)
    return pc.strftime(
        pa.array((emitted_s * 1000).astype("int64"), pa.timestamp("ms", tz="UTC")),
        # %S already carries the milliseconds of a millisecond timestamp.
        format="%Y-%m-%dT%H:%M:%SZ",
    )


def _json_field(name: str, values: pa.Array) -> pa.Array:
    """`,"name":"value"` where a value is set, nothing where it is not (as emitters leave
    out fields an event does not have)."""
    text = pc.binary_join_element_wise(f',"{name}":"', values, '"', "")
    return pc.fill_null(text, "")


def write_lake_file(lake_dir: Path, table: pa.Table, written: datetime) -> Path:
    """One file in the sink's layout and name, in the hour it was written (arrival)."""
    folder = event_folder(lake_dir, written)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(written)
    pq.write_table(table, path, compression="zstd")
    return path


def write_history(lake_dir: Path, events: int, hours: int, end: datetime) -> None:
    """`events` spread evenly over `hours` ending at `end`, one compacted file per hour.

    Each file's modification time is its hour's end, as lake upkeep leaves a compacted hour
    (the newest of the files it merged): written now, the history would be new to the next
    run (the pipeline finds new files by modification time) and read again.
    """
    rng = np.random.default_rng(7)
    for hour, count in zip(range(hours, 0, -1), _shares(events, hours), strict=True):
        ingested = end - timedelta(hours=hour) + timedelta(minutes=30)
        path = write_lake_file(lake_dir, synthetic_events(count, ingested, rng), ingested)
        hour_end = (ingested + timedelta(minutes=30)).timestamp()
        os.utime(path, (hour_end, hour_end))


def _shares(total: int, parts: int) -> list[int]:
    """`total` in `parts` as even as whole numbers go, so every event asked for is written."""
    return [total // parts + (1 if part < total % parts else 0) for part in range(parts)]


def write_increment(lake_dir: Path, events: int, rng: np.random.Generator) -> None:
    """New events as the sink writes them: one small file every two seconds of the last
    minute."""
    now = datetime.now(UTC)
    for number, count in enumerate(_shares(events, INCREMENT_FILES)):
        written = now - timedelta(seconds=2 * (INCREMENT_FILES - number))
        write_lake_file(lake_dir, synthetic_events(count, written, rng), written)


# --- measurements --------------------------------------------------------------------------


def _settings(state: Path) -> Settings:
    return load_settings(state_dir=state)


def progress(line: str) -> None:
    """On stderr, so the JSON on stdout stays whole."""
    print(line, file=sys.stderr, flush=True)


def _timed_run(settings: Settings) -> dict[str, float]:
    """One run of each group as the pipeline's two jobs run them: seconds of each, and both."""
    fresh = run_models(settings, FRESH_MODELS).duration_s
    quality = run_models(settings, QUALITY_MODELS).duration_s
    return {"fresh_s": fresh, "quality_s": quality, "run_s": fresh + quality}


def bench_full_load(state: Path, events: int) -> dict[str, Any]:
    """Plan on a tiny lake, then time one run that loads `events` new events at once."""
    settings = _settings(state)
    rng = np.random.default_rng(1)
    write_increment(settings.lake_dir, 100, rng)
    progress("planning the models on a tiny lake ...")
    _timed_run(settings)  # plans the models: not part of the per-event cost
    progress(f"writing {events:,} events and loading them in one run ...")

    started = time.monotonic()
    now = datetime.now(UTC)
    for offset in range(0, events, FILE_ROWS):
        written = now - timedelta(seconds=240) + timedelta(seconds=offset / events * 200)
        rows = min(FILE_ROWS, events - offset)
        write_lake_file(settings.lake_dir, synthetic_events(rows, written, rng), written)
    generated_s = time.monotonic() - started
    timed = _timed_run(settings)
    progress(f"  one run took {timed['run_s']:.1f} s; DuckDB alone copying the same files ...")
    floor_s = duckdb_copy_s(settings.lake_dir, state / "floor.duckdb")
    millions = events / 1e6
    return {
        "events": events,
        "lake_generated_s": round(generated_s, 1),
        **{name: round(seconds, 2) for name, seconds in timed.items()},
        "s_per_million_events": round(timed["run_s"] / millions, 2),
        "fresh_s_per_million_events": round(timed["fresh_s"] / millions, 2),
        "quality_s_per_million_events": round(timed["quality_s"] / millions, 2),
        "duckdb_copy_s_per_million_events": round(floor_s / millions, 2),
        "run_over_duckdb_copy": round(timed["run_s"] / floor_s, 1),
    }


def duckdb_copy_s(lake_dir: Path, database: Path) -> float:
    """Seconds DuckDB alone takes to copy every lake event into one table of a database file:
    a floor for any model run on this machine, which must at least read and store each event
    once (staging does, typed and deduplicated), so the run's figure can be read against it."""
    started = time.monotonic()
    with duckdb.connect(str(database)) as connection:
        connection.execute(
            "CREATE TABLE events AS SELECT * FROM read_parquet($glob, union_by_name = TRUE)",
            {"glob": events_glob(lake_dir)},
        )
    seconds = time.monotonic() - started
    for path in (database, database.with_name(database.name + ".wal")):
        path.unlink(missing_ok=True)
    return seconds


def bench_incremental(root: Path, options: argparse.Namespace) -> dict[str, Any]:
    """The same increment after a short and after a long history, for the fresh and the quality
    job: a run's cost should follow its new data, so early and late should match."""
    per_hour = options.events // options.history_hours
    early = _incremental_after(root / "early", per_hour, 1, options.new_events)
    late = _incremental_after(
        root / "late", options.events, options.history_hours, options.new_events
    )
    return {
        "new_events": options.new_events,
        "early": {"history_events": per_hour, **early},
        "late": {"history_events": options.events, **late},
        "late_over_early": round(late["run_s"] / early["run_s"], 2),
        # Per job, as each runs on its own trigger: the figure issue 7 asks to stay near 1.
        "fresh_late_over_early": round(late["fresh_s"] / early["fresh_s"], 2),
        "quality_late_over_early": round(late["quality_s"] / early["quality_s"], 2),
    }


def _incremental_after(state: Path, events: int, hours: int, new_events: int) -> dict[str, Any]:
    settings = _settings(state)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    write_history(settings.lake_dir, events, hours, now - timedelta(hours=1))
    progress(f"{events:,} events of history over {hours} h, then three increments ...")
    _timed_run(settings)  # plans and loads the history
    rng = np.random.default_rng(3)
    runs = []
    for _ in range(3):
        write_increment(settings.lake_dir, new_events, rng)
        runs.append(_timed_run(settings))
    published = publish_serving_copy(settings)
    return {
        **{
            name: round(statistics.median(run[name] for run in runs), 2)
            for name in ("fresh_s", "quality_s", "run_s")
        },
        "runs_s": [round(run["run_s"], 2) for run in runs],
        # Not part of the run: the copy readers open grows with the warehouse.
        "publish_s": round(published.duration_s, 2),
        "warehouse_mb": round(published.bytes / 1e6, 1),
    }


# --- freshness on the real stack -----------------------------------------------------------


def bench_freshness(state: Path, seconds: float) -> dict[str, Any]:
    """Run `streamsim up` at default settings and time each event into the serving copy."""
    from streamsim.bench.stack import stop_stack
    from streamsim.stack.isolated import isolated_env

    env = isolated_env(state)
    command = [sys.executable, "-m", "streamsim", "up", "--duration", str(seconds)]
    log = (state.parent / "up.out").open("w")
    progress(f"freshness: `streamsim up` for {seconds:.0f} s, its output in {log.name} ...")
    up = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        delays = _watch_serving_copy(_settings(state).serving_path, up, state.parent / "up.out")
        watched_until = time.time()
    except BaseException:
        stop_stack(up)  # interrupted: the stack drains and stops now, not when its time is up
        raise
    finally:
        try:
            up.wait(timeout=300)  # the drain, then every process stopped
        except subprocess.TimeoutExpired:
            up.terminate()
            up.wait(timeout=60)
        log.close()
    return _freshness_figures(delays, _settings(state), watched_until)


def _watch_serving_copy(serving: Path, up: subprocess.Popen[bytes], out: Path) -> list[float]:
    """Poll the serving copy; for each new publication, the delay of each event it adds.

    Watching ends when the run's time is up: the last events are then published by the
    end-of-run drain, after Dagster has stopped, which says nothing of a running stack.
    """
    seen: set[str] = set()
    delays: list[float] = []
    last: tuple[int, int] | None = None
    while up.poll() is None and "s are up" not in out.read_text():
        time.sleep(0.2)
        try:
            info = serving.stat()
        except FileNotFoundError:
            continue
        if (info.st_ino, info.st_mtime_ns) == last:
            continue
        last = (info.st_ino, info.st_mtime_ns)
        published = info.st_mtime
        for key, emitted in _events_in(serving):
            if key not in seen:
                seen.add(key)
                delays.append(published - emitted)
    return delays


def _events_in(serving: Path) -> list[tuple[str, float]]:
    try:
        connection = duckdb.connect(str(serving), read_only=True)
    except duckdb.Error:
        return []
    try:
        return connection.execute(
            "SELECT event_key, EPOCH(emitted_at) FROM staging.events WHERE emitted_at IS NOT NULL"
        ).fetchall()
    except duckdb.Error:
        return []  # published before staging existed
    finally:
        connection.close()


def _freshness_figures(delays: list[float], settings: Settings, until: float) -> dict[str, Any]:
    if len(delays) < 2:
        return {"events": len(delays), "p50_s": None, "p95_s": None}
    cuts = statistics.quantiles(delays, n=100)
    return {
        "events": len(delays),
        "p50_s": round(statistics.median(delays), 1),
        "p95_s": round(cuts[94], 1),
        "max_s": round(max(delays), 1),
        "pipeline_record": _recorded(settings, until),
    }


def _recorded(settings: Settings, until: float) -> dict[str, Any]:
    """What the pipeline itself wrote into ops.freshness while watched, for comparison."""
    try:
        connection = duckdb.connect(str(settings.serving_path), read_only=True)
    except duckdb.Error:
        return {}
    try:
        row = connection.execute(
            "SELECT COUNT(*), SUM(events), MAX(p95_s), MEDIAN(p50_s) FROM ops.freshness "
            "WHERE published_at <= MAKE_TIMESTAMP(($until * 1e6)::BIGINT)",
            {"until": until},
        ).fetchone()
    except duckdb.Error:
        return {}
    finally:
        connection.close()
    if not row:
        return {}
    return {
        "publications": row[0],
        "events": row[1],
        "worst_publication_p95_s": row[2],
        "median_publication_p50_s": row[3],
    }
