"""The fresh path as one long-lived process: a pass over the metrics whenever files land.

A Dagster run per batch of lake files paid, on every batch, for the queue, a new process
importing Dagster and SQLMesh, SQLMesh loading the project, and a lock released between the
models and the serving copy (a quality run could take it in between). With the simulators
holding most of two cores, that was 9 to 65 s before a run even started. The loop keeps the
project loaded and looks at the lake every few seconds; each pass holds the writer lock
from the models to the published copy, then closes the warehouse so the quality and upkeep
jobs can write between passes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlmesh import Context
from streamsim.pipeline import warehouse
from streamsim.pipeline.project import FRESH_MODELS, PROJECT_DIR, sqlmesh_config
from streamsim.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FreshPass:
    """One pass of the loop: what the models did and the copy it published."""

    models: warehouse.RunFacts
    serving: warehouse.ServingFacts


def newest_lake_file_ns(settings: Settings) -> int:
    """The latest modification time among the lake's event files, 0 while it is empty."""
    return max(
        (os.stat(path).st_mtime_ns for path in warehouse.lake_event_files(settings)), default=0
    )


class FreshLoop:
    """Runs the fresh models and republishes the serving copy each time newer files land.

    The SQLMesh context is loaded once and kept; closing it after a pass only lets go of
    the warehouse file, and the next pass connects again.
    """

    def __init__(self, settings: Settings, models: Sequence[str] = FRESH_MODELS) -> None:
        self._settings = settings
        self._models = tuple(models)
        self._context: Context | None = None
        # The newest file time the last pass read; files with later times are new.
        self._seen_ns = 0

    def run_pass(self) -> FreshPass | None:
        """Run one pass if the lake holds files newer than the last pass saw, else None."""
        newest = newest_lake_file_ns(self._settings)
        if newest <= self._seen_ns:
            return None

        with warehouse.writer_lock(self._settings):
            context = self._loaded()
            try:
                models = warehouse.run_loaded_models(context, self._settings, self._models)
            finally:
                context.close()
            serving = warehouse.publish_holding_lock(self._settings)
        # Only now: a pass that failed leaves the files new for the next one.
        self._seen_ns = newest
        return FreshPass(models, serving)

    def passes(self, look_interval_s: float, keep_going: Callable[[], bool]) -> Iterator[FreshPass]:
        """Yield each pass that found new files, looking every `look_interval_s` while
        `keep_going()` says so.

        The pause comes after a pass too: it leaves the lock to a quality or upkeep run
        waiting for it (an flock is not handed over in turn), and lets files gather so each
        pass's fixed cost is shared by more events.
        """
        while keep_going():
            done = self.run_pass()
            if done is not None:
                yield done
            time.sleep(look_interval_s)

    def _loaded(self) -> Context:
        if self._context is None:
            started = time.monotonic()
            self._context = Context(
                paths=PROJECT_DIR, config=sqlmesh_config(self._settings, model_tests=False)
            )
            logger.info("loaded the SQLMesh project in %.2f s", time.monotonic() - started)
        return self._context
