"""A real run at error factor 0.3: skewed device clocks stay out of the counts and the lake.

At this factor some users' `emitted_at` is 1 to 24 site hours off (docs/faults.md). Before
the lake was filed by arrival and staging judged `emitted_at` against it, such a run made
sessions of minus two days, negative watch times, a per-minute mart spread over two days
for a run of minutes, and one lake file per claimed hour and batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from streamsim.bench.quality import run_stack
from streamsim.settings import Settings, load_settings

from .test_up import stack_env

RUN_SECONDS = 60
SPEED = 10.0
# The run's site length is 10 minutes; users start once the stack is up, and the last beats
# drain after the run: a few minutes either way, against the day a skewed clock adds.
MOST_MINUTES = 20

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def skewed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    state = tmp_path_factory.mktemp("skew") / "state"
    env, _ = stack_env(state)
    env["STREAMSIM_ORCHESTRATOR__ERROR_FACTOR"] = "0.3"
    run_stack(state, env, RUN_SECONDS, SPEED)  # raises with up's last words if it failed
    yield load_settings(state_dir=state)


def one(settings: Settings, sql: str) -> tuple[Any, ...]:
    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        row = db.execute(sql).fetchone()
    assert row is not None
    return row


def test_skewed_events_reach_staging_but_are_never_counted(skewed_run: Settings) -> None:
    untimely, untimely_counted = one(
        skewed_run,
        "SELECT COUNT(*) FILTER (WHERE NOT timely), "
        "COUNT(*) FILTER (WHERE NOT timely AND envelope_valid) FROM staging.events",
    )
    assert untimely > 0, "no skewed clock in a run at factor 0.3: nothing was tested"
    assert untimely_counted == 0


def test_no_session_or_view_lasts_a_negative_time(skewed_run: Settings) -> None:
    assert one(skewed_run, "SELECT COUNT(*) FROM core.sessions WHERE length_s < 0") == (0,)
    assert one(skewed_run, "SELECT COUNT(*) FROM core.video_views WHERE watch_time_s < 0") == (0,)


def test_the_per_minute_marts_span_about_the_runs_length(skewed_run: Settings) -> None:
    for model in ("metrics.system_per_minute", "core.server_utilisation"):
        rows, span = one(
            skewed_run,
            f"SELECT COUNT(*), DATE_DIFF('minute', MIN(minute), MAX(minute)) FROM {model}",
        )
        assert 0 < rows <= MOST_MINUTES + 1, model
        assert span <= MOST_MINUTES, model


def test_each_lake_file_holds_only_rows_that_arrived_in_its_folders_hour(
    skewed_run: Settings,
) -> None:
    files = sorted((skewed_run.lake_dir / "events").rglob("*.parquet"))
    assert files
    # A run of minutes arrives within one or two hours, whatever the clocks claim.
    assert len({path.parent for path in files}) <= 2
    with duckdb.connect() as db:
        misfiled = db.execute(
            "SELECT COUNT(*) FROM read_parquet(?, hive_partitioning = TRUE) "
            "WHERE STRFTIME(ingested_at AT TIME ZONE 'UTC', '%Y-%m-%d %H') "
            "<> ingest_date::TEXT || ' ' || LPAD(ingest_hour::TEXT, 2, '0')",
            [[str(path) for path in files]],
        ).fetchone()
    assert misfiled == (0,)
