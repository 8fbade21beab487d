"""Builds the warehouse with SQLMesh and publishes the copy that readers open.

DuckDB lets one process write a database file, and a reader cannot open a file another
process is writing. So only this module opens the warehouse, one writer at a time (a file
lock shared by every process of the stack), and closes it after each run; BI and
`streamsim sql` read the serving copy, which is replaced atomically after each run.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

import sqlmesh
from sqlmesh import Context
from streamsim.durable import fsync_directory
from streamsim.pipeline.arrivals import close_windows, open_windows, run_groups
from streamsim.pipeline.freshness import Freshness, record_freshness
from streamsim.pipeline.project import MODELS, PROJECT_DIR, sqlmesh_config
from streamsim.settings import Settings

logger = logging.getLogger(__name__)

PROD = "prod"
# Everything a model's SQLMesh fingerprint can depend on: its files, and the package its
# Python models and macros import.
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class RunFacts:
    """What one warehouse run did, for Dagster metadata and for the people reading it."""

    lake_files: int
    duration_s: float
    planned: bool = False
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        """A run is skipped while the lake is empty: the lake view needs a file to exist."""
        return self.lake_files == 0


@dataclass(frozen=True)
class ServingFacts:
    """What one publication of the serving copy did."""

    path: Path
    bytes: int
    duration_s: float
    freshness: Freshness = field(default_factory=Freshness)


def lake_event_files(settings: Settings) -> list[Path]:
    """Every event file the sink has finished writing (it renames them into place)."""
    events_dir = settings.lake_dir / "events"
    if not events_dir.is_dir():
        return []
    return sorted(events_dir.rglob("*.parquet"))


# A POSIX record lock excludes other processes only; this keeps two threads of one apart.
_THREADS = threading.Lock()


@contextmanager
def writer_lock(settings: Settings) -> Iterator[None]:
    """Hold the one-writer lock, so the daemon's runs and an in-process drain never overlap.

    A POSIX record lock (`lockf`), not an `flock`: it belongs to this process alone and goes
    with it. SQLMesh forks worker processes while a run holds the lock; an `flock` is shared
    with such children, and when a run was killed they lived on, idle, holding the warehouse
    until the stack stopped.
    """
    lock_path = settings.warehouse_path.parent / "writer.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with _THREADS, lock_path.open("a") as lock_file:
        started = time.monotonic()
        fcntl.lockf(lock_file, fcntl.LOCK_EX)
        waited = time.monotonic() - started
        if waited > 1:
            logger.info("waited %.1f s for another warehouse writer", waited)
        try:
            yield
        finally:
            fcntl.lockf(lock_file, fcntl.LOCK_UN)


@contextmanager
def open_context(settings: Settings, model_tests: bool = True) -> Iterator[Context]:
    """Open SQLMesh on the warehouse and always close it, so no process keeps the file open.

    A model run opens it without the unit tests (`model_tests=False`), which it never runs.
    """
    context = Context(paths=PROJECT_DIR, config=sqlmesh_config(settings, model_tests))
    try:
        yield context
    finally:
        context.close()


def run_models(settings: Settings, models: Sequence[str] = MODELS) -> RunFacts:
    """Apply model changes to prod, then load every lake file that arrived since the last run.

    `models` narrows the run to one group of them: the fresh path or the quality models.
    """
    if not lake_event_files(settings):
        logger.info("the lake holds no event files yet; nothing to model")
        return RunFacts(lake_files=0, duration_s=0.0)

    with writer_lock(settings), open_context(settings, model_tests=False) as context:
        return run_loaded_models(context, settings, models)


def run_loaded_models(context: Context, settings: Settings, models: Sequence[str]) -> RunFacts:
    """`run_models` on a context the caller opened, while it holds the writer lock."""
    started = time.monotonic()
    # Taken before the listing: a file that lands during it is new to the next run either way.
    listed_at = time.time()
    files = lake_event_files(settings)
    whole = set(models) >= set(MODELS)
    planned = _apply_changes(context, settings, backfill=whole)
    groups = run_groups(models)
    open_windows(context.engine_adapter, files, listed_at, groups)
    status = context.run(
        PROD,
        ignore_cron=True,
        # A group reads what the other group last built instead of building it again.
        select_models=None if whole else list(models),
        no_auto_upstream=not whole,
        # Cleaning up old snapshots is no part of an event's way to the metrics.
        skip_janitor=not whole,
    )
    if status.is_failure:
        raise RuntimeError(f"SQLMesh run of {PROD} failed: {status}")
    close_windows(context.engine_adapter, groups, listed_at)
    rows = {model: _count_rows(context, model) for model in models if model != "lake.events"}

    facts = RunFacts(len(files), time.monotonic() - started, planned, rows)
    logger.info(
        "warehouse run over %s lake files took %.2f s: %s", len(files), facts.duration_s, rows
    )
    return facts


def _apply_changes(context: Context, settings: Settings, backfill: bool) -> bool:
    """Plan prod when it is missing or the models changed; auto-applied, as nobody is asked.

    Building a plan costs seconds on every run, so it is skipped while the project's files
    and variables are those of the last plan: prod then already holds these models. A group's
    run plans without backfill: its own run right after fills its models, and the other
    group's run fills the rest, so the first fresh run does not wait for the quality models.
    """
    project = project_fingerprint(context)
    applied = _plan_stamp(settings)
    if applied.is_file() and applied.read_text() == project and _prod_exists(context):
        return False

    plan = context.plan_builder(PROD, skip_tests=True).build()
    planned = plan.has_changes or not _prod_exists(context)
    if planned:
        # The models' unit tests run in the test suite, not on the way to the metrics.
        context.plan(
            PROD, no_prompts=True, auto_apply=True, skip_tests=True, skip_backfill=not backfill
        )
        logger.info("applied a plan to %s", PROD)
    applied.write_text(project)
    return planned


def _plan_stamp(settings: Settings) -> Path:
    return settings.warehouse_path.with_name(settings.warehouse_path.name + ".planned")


def _prod_exists(context: Context) -> bool:
    return context.state_reader.get_environment(PROD) is not None


def project_fingerprint(context: Context) -> str:
    """A digest of what SQLMesh builds prod's models from: it changes when a model could."""
    digest = hashlib.sha256(f"sqlmesh {sqlmesh.__version__}\n".encode())
    digest.update(repr(sorted(context.config.variables.items())).encode())
    sources = [
        *PROJECT_DIR.rglob("*.sql"),
        *PROJECT_DIR.rglob("*.py"),
        *PROJECT_DIR.rglob("*.yaml"),
    ]
    for path in sorted({*sources, *_PACKAGE_DIR.rglob("*.py")}):
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _count_rows(context: Context, model: str) -> int:
    row = context.engine_adapter.fetchone(f"SELECT COUNT(*) FROM {model}")
    return int(row[0]) if row else 0


def publish_serving_copy(settings: Settings) -> ServingFacts:
    """Replace the serving copy atomically: readers see the old file or the new, never half."""
    with writer_lock(settings):
        return publish_holding_lock(settings)


def publish_holding_lock(settings: Settings) -> ServingFacts:
    """`publish_serving_copy` for a caller that holds the writer lock already."""
    started = time.monotonic()
    source, target = settings.warehouse_path, settings.serving_path
    _checkpoint_if_needed(source)
    freshness = record_freshness(settings, published_at=time.time())
    size = _copy_durably(source, target)

    facts = ServingFacts(target, size, time.monotonic() - started, freshness)
    logger.info("published %s (%s bytes) in %.2f s", target, size, facts.duration_s)
    return facts


def _checkpoint_if_needed(warehouse: Path) -> None:
    """Fold a write-ahead log left by an interrupted writer into the file before copying it."""
    if not warehouse.with_name(warehouse.name + ".wal").exists():
        return
    logger.info("checkpointing %s, whose last writer did not close it", warehouse)
    connection = duckdb.connect(str(warehouse))
    try:
        connection.execute("CHECKPOINT")
    finally:
        connection.close()


def _copy_durably(source: Path, target: Path) -> int:
    """Copy beside the target, flush to disk, then rename over it (atomic on one filesystem)."""
    descriptor, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".serving-", suffix=".tmp")
    temp = Path(temp_name)
    try:
        with os.fdopen(descriptor, "wb") as copy, source.open("rb") as original:
            while chunk := original.read(_COPY_CHUNK):
                copy.write(chunk)
            copy.flush()
            os.fsync(copy.fileno())
        # mkstemp makes the file private; readers in other accounts need the original's mode.
        temp.chmod(source.stat().st_mode & 0o777)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)
    return target.stat().st_size
