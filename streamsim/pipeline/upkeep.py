"""Lake upkeep for long runs: merge a quiet partition's small files, expire old partitions.

The sink writes a file per partition every few seconds, so an hour of events is about
2,000 files; every reader pays per file. Once a partition has had no new file for
`lake.compact_quiet_s`, its files become one. Readers must see every row exactly once
throughout, so the merged file is built in a folder of its own outside the lake, and that
folder is swapped with the partition's in one `renameat2(RENAME_EXCHANGE)`: a listing
shows the old files or the merged one, never both and never neither. The swap holds the
lake's write lock, so no sink lands a file in a folder while it moves.

Both steps run under the warehouse's writer lock, so a SQLMesh run never reads the lake
while it changes.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from streamsim.durable import fsync_directory
from streamsim.lake import lake_write_lock
from streamsim.settings import Settings

logger = logging.getLogger(__name__)

WORK_FOLDER = ".upkeep"  # beside the lake's top folders, so no lake glob reaches it
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
ROW_GROUP_ROWS = 128_000
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class UpkeepFacts:
    """What one upkeep pass did, for Dagster metadata."""

    partitions_compacted: int = 0
    files_merged: int = 0
    rows_merged: int = 0
    partitions_expired: list[str] = field(default_factory=list)
    duration_s: float = 0.0


def exchange(first: Path, second: Path) -> None:
    """Swap two folders' names atomically (Linux 3.15+, on one filesystem)."""
    if _libc.renameat2(_AT_FDCWD, bytes(first), _AT_FDCWD, bytes(second), _RENAME_EXCHANGE):
        code = ctypes.get_errno()
        raise OSError(code, f"cannot swap {first} and {second}: {os.strerror(code)}")


def partition_folders(lake_dir: Path) -> Iterator[Path]:
    """Folders that hold Parquet files directly: event hours, quarantine and truth days."""
    for top in sorted(lake_dir.iterdir()) if lake_dir.is_dir() else []:
        if top.is_dir() and not top.name.startswith("."):
            yield from (p for p in sorted(top.rglob("*")) if p.is_dir() and _holds_files(p))


def _holds_files(folder: Path) -> bool:
    return any(entry.suffix == ".parquet" for entry in folder.iterdir())


def merged_name(files: list[Path]) -> str:
    """Named after the newest file merged: a name never earlier than any row's ingestion,
    which is what readers that skip files by name rely on."""
    newest = max(files).name.split("-", 1)[0]
    return f"{newest}-{uuid.uuid4().hex}.parquet"


def write_merged(files: list[Path], target: Path) -> int:
    """Write the files' rows in name order into one file, a few row groups at a time, so
    an hour of any size merges in bounded memory; returns the rows written."""
    schema = pa.unify_schemas(
        [pq.read_schema(path) for path in files], promote_options="permissive"
    )
    rows, pending, pending_rows = 0, [], 0
    with target.open("wb") as handle:
        with pq.ParquetWriter(handle, schema, compression="zstd") as out:
            for path in files:
                table = pq.read_table(path)
                pending.append(table.select([n for n in schema.names if n in table.column_names]))
                pending_rows += table.num_rows
                if pending_rows >= ROW_GROUP_ROWS:
                    rows += _write_pending(out, schema, pending)
                    pending, pending_rows = [], 0
            rows += _write_pending(out, schema, pending)
        # The footer is written when the writer closes: only then is the file whole.
        handle.flush()
        os.fsync(handle.fileno())
    return rows


def keep_newest_mtime(files: list[Path], merged: Path) -> None:
    """Give the merged file the newest modification time of the files it holds: a model run
    takes a file modified since its last listing as new (streamsim.pipeline.arrivals), and
    these rows were new when their own files landed."""
    newest = max(os.stat(path).st_mtime_ns for path in files)
    os.utime(merged, ns=(newest, newest))


def _write_pending(out: pq.ParquetWriter, schema: pa.Schema, tables: list[pa.Table]) -> int:
    if not tables:
        return 0
    merged = pa.concat_tables(tables, promote_options="permissive")
    for name in schema.names:
        if name not in merged.column_names:
            merged = merged.append_column(name, pa.nulls(merged.num_rows, schema.field(name).type))
    out.write_table(merged.select(schema.names).cast(schema))
    return merged.num_rows


def compact_partition(settings: Settings, folder: Path, files: list[Path]) -> int:
    """Replace `files` (all of `folder`'s Parquet) by one file; returns its rows."""
    work = settings.lake_dir / WORK_FOLDER / uuid.uuid4().hex
    staged = work / "partition"
    staged.mkdir(parents=True)
    try:
        merged = staged / merged_name(files)
        rows = write_merged(files, merged)
        keep_newest_mtime(files, merged)
        fsync_directory(staged)
        with lake_write_lock(settings.lake_dir, exclusive=True):
            if sorted(_parquet(folder)) != files:
                logger.info("%s changed while it was merged; next pass", folder)
                return 0
            exchange(staged, folder)
        fsync_directory(folder.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _parquet(folder: Path) -> list[Path]:
    return [entry for entry in folder.iterdir() if entry.suffix == ".parquet"]


def compact_lake(settings: Settings, facts: UpkeepFacts) -> None:
    """Merge the files of every partition that has been quiet long enough."""
    quiet_before = time.time() - settings.lake.compact_quiet_s
    for folder in partition_folders(settings.lake_dir):
        files = sorted(_parquet(folder))
        if len(files) < 2 or max(p.stat().st_mtime for p in files) > quiet_before:
            continue
        rows = compact_partition(settings, folder, files)
        if rows:
            facts.partitions_compacted += 1
            facts.files_merged += len(files)
            facts.rows_merged += rows


def partition_start(folder: Path) -> datetime | None:
    """The UTC start of an arrival hour or day, from its folder names."""
    parts = dict(p.split("=", 1) for p in folder.parts if "=" in p)
    # A lake written before events were filed by arrival has event_date/event_hour (claimed
    # site) folders: they expire like arrival hours rather than never.
    parts.setdefault("ingest_date", parts.get("event_date", ""))
    parts.setdefault("ingest_hour", parts.get("event_hour", ""))
    try:
        if parts["ingest_hour"]:
            return datetime.fromisoformat(f"{parts['ingest_date']}T{parts['ingest_hour']}:00+00:00")
        if parts["ingest_date"]:
            return datetime.fromisoformat(f"{parts['ingest_date']}T00:00+00:00")
    except ValueError:
        return None
    return None


def expiry_cutoff(settings: Settings, now: float) -> datetime:
    """Every partition is named by arrival (real time); the retention is site hours, so it
    spans `retention_hours / speed` real hours: a faster run keeps less real time."""
    keep = timedelta(hours=settings.lake.retention_hours) / settings.speed
    return datetime.fromtimestamp(now, UTC) - keep


def expire_lake(settings: Settings, facts: UpkeepFacts, now: float | None = None) -> None:
    """Delete partitions that ended before the retention horizon, whole folder at a time."""
    cutoff = expiry_cutoff(settings, time.time() if now is None else now)
    for folder in list(partition_folders(settings.lake_dir)):
        start = partition_start(folder)
        if start is None:
            continue
        if start.year == datetime.max.year:
            continue  # the last day there is (a placeholder's): never past any horizon
        is_hour = "_hour=" in folder.name
        if start + (timedelta(hours=1) if is_hour else timedelta(days=1)) <= cutoff:
            _remove_folder(settings, folder)
            facts.partitions_expired.append(str(folder.relative_to(settings.lake_dir)))


def _remove_folder(settings: Settings, folder: Path) -> None:
    """Move the folder out of the lake in one rename, then delete it at leisure."""
    graveyard = settings.lake_dir / WORK_FOLDER / uuid.uuid4().hex
    graveyard.parent.mkdir(parents=True, exist_ok=True)
    with lake_write_lock(settings.lake_dir, exclusive=True):
        os.rename(folder, graveyard)
    shutil.rmtree(graveyard, ignore_errors=True)
    try:
        folder.parent.rmdir()  # the day folder, once its last hour is gone
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
            raise


def clear_leftovers(settings: Settings) -> None:
    """What a killed pass left in the work folder is never part of the lake: remove it."""
    shutil.rmtree(settings.lake_dir / WORK_FOLDER, ignore_errors=True)


def upkeep(settings: Settings, now: float | None = None) -> UpkeepFacts:
    """Expire, then compact what is left; the caller holds the warehouse's writer lock."""
    started = time.monotonic()
    facts = UpkeepFacts()
    clear_leftovers(settings)
    expire_lake(settings, facts, now)
    compact_lake(settings, facts)
    facts.duration_s = time.monotonic() - started
    logger.info(
        "lake upkeep: %s partitions compacted (%s files, %s rows), %s expired, %.2f s",
        facts.partitions_compacted,
        facts.files_merged,
        facts.rows_merged,
        len(facts.partitions_expired),
        facts.duration_s,
    )
    return facts
