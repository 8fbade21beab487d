"""Where a run's window of arrivals begins: at the earliest row of the files new since the
group last ran, not at the start of the hour SQLMesh reloads.

The incremental models work in hourly intervals with partial intervals allowed, so every run
reloads the current hour from its start: late in an hour a run reread an hour of events and
rebuilt every session they touched, and a run's cost grew with the hour. A group's run now
writes, before SQLMesh starts, the earliest `ingested_at` among the lake files that appeared
since the group's last successful run (`ops.window_marks`); the models' windows begin there
(the `arrivals_from` macro). It is exact, not a guess at lateness: a file that lands late
with old rows moves the window back to its rows. A file counts as new when its modification
time is no more than `_SLACK_S` before the last run's listing: the sink renames a file into
place right after writing it, and lake upkeep gives a merged file the newest time among the
files it merges, which every run has read already.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
from sqlmesh.core.engine_adapter import EngineAdapter

from streamsim.pipeline.project import FRESH_MODELS, QUALITY_MODELS

logger = logging.getLogger(__name__)

MARKS_TABLE = "ops.window_marks"
# Run groups and their models: each keeps a mark of its own, since they run apart.
RUN_GROUPS = {"fresh": FRESH_MODELS, "quality": QUALITY_MODELS}
# A file renamed into place this long after its modification time would still count as new.
_SLACK_S = 60.0

_SETUP = f"""
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS {MARKS_TABLE} (
  run_group TEXT PRIMARY KEY, listed_at DOUBLE, arrivals_from TIMESTAMP
);
COMMENT ON TABLE {MARKS_TABLE} IS 'Per run group of models: when its last successful run \
listed the lake (listed_at, Unix seconds), and where the current run''s window of arrivals \
begins (arrivals_from, UTC): the earliest ingested_at of the files new since then.';
"""


def run_groups(models: Sequence[str]) -> list[str]:
    """The groups whose every model is in `models`: a run of them moves their marks."""
    return [group for group, members in RUN_GROUPS.items() if set(members) <= set(models)]


def open_windows(
    adapter: EngineAdapter, files: Sequence[Path], listed_at: float, groups: Iterable[str]
) -> None:
    """Write each group's `arrivals_from` for the run about to start, given the lake's event
    files as listed from `listed_at` on (the time `close_windows` records once the run has
    succeeded)."""
    adapter.execute(_SETUP)
    modified = _with_mtimes(files)
    for group in groups:
        last = adapter.fetchone(f"SELECT listed_at FROM {MARKS_TABLE} WHERE run_group = '{group}'")
        since = last[0] if last and last[0] is not None else None
        arrivals_from = None if since is None else _earliest_arrival(modified, since, listed_at)
        adapter.execute(
            f"INSERT INTO {MARKS_TABLE} VALUES ('{group}', NULL, {_sql_time(arrivals_from)}) "
            f"ON CONFLICT (run_group) DO UPDATE SET arrivals_from = EXCLUDED.arrivals_from"
        )
        logger.info("%s window of arrivals from %s", group, arrivals_from or "the interval start")


def close_windows(adapter: EngineAdapter, groups: Iterable[str], listed_at: float) -> None:
    """The run succeeded: files listed before `listed_at` are loaded for these groups."""
    for group in groups:
        adapter.execute(
            f"UPDATE {MARKS_TABLE} SET listed_at = {listed_at!r} WHERE run_group = '{group}'"
        )


def _with_mtimes(files: Sequence[Path]) -> list[tuple[float, Path]]:
    found = []
    for path in files:
        try:
            found.append((os.stat(path).st_mtime, path))
        except FileNotFoundError:  # merged away by lake upkeep since the listing
            continue
    return found


def _earliest_arrival(files: list[tuple[float, Path]], since: float, listed_at: float) -> datetime:
    """The earliest `ingested_at` in files modified since `since` (less the slack); the
    listing time itself when none are new, which gives an empty window."""
    new = [path for mtime, path in files if mtime >= since - _SLACK_S]
    earliest = [stamp for path in new if (stamp := _earliest_in(path)) is not None]
    return min(earliest, default=datetime.fromtimestamp(listed_at, UTC))


def _earliest_in(path: Path) -> datetime | None:
    """The file's earliest `ingested_at`, from its footer's statistics when it has them."""
    try:
        metadata = pq.read_metadata(path)
        column = metadata.schema.to_arrow_schema().get_field_index("ingested_at")
        if column < 0:
            return None
        stats = [
            metadata.row_group(i).column(column).statistics for i in range(metadata.num_row_groups)
        ]
        if stats and all(s is not None and s.has_min_max for s in stats):
            return min(_as_utc(s.min) for s in stats if s is not None)
        values = pq.read_table(path, columns=["ingested_at"]).column(0).to_pylist()
    except FileNotFoundError:  # merged away by lake upkeep since the listing
        return None
    return min((_as_utc(value) for value in values if value is not None), default=None)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sql_time(moment: datetime | None) -> str:
    if moment is None:
        return "NULL"
    return f"TIMESTAMP '{moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' ')}'"
