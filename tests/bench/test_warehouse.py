"""bench warehouse's synthetic lake must be a lake the models count, or its cost is not the
cost of counting events; and its figures come with DuckDB's own floor beside them."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from streamsim.bench.warehouse import (
    add_options,
    bench_full_load,
    check_options,
    write_history,
    write_increment,
)
from streamsim.errors import StreamsimError
from streamsim.lake import events_glob
from streamsim.pipeline.warehouse import publish_serving_copy
from streamsim.settings import load_settings

# Two real SQLMesh runs of each group: about a minute alone.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_the_synthetic_events_are_counted_and_the_load_is_read_against_duckdbs_floor(
    tmp_path: Path,
) -> None:
    figures = bench_full_load(tmp_path, 4_000)

    settings = load_settings(state_dir=tmp_path)
    publish_serving_copy(settings)
    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        landed = db.execute(
            "SELECT COUNT(*) FROM read_parquet($glob)", {"glob": events_glob(settings.lake_dir)}
        ).fetchone()
        staged = db.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE envelope_valid AND timely) FROM staging.events"
        ).fetchone()
        sessions = db.execute("SELECT COUNT(*) FROM core.sessions").fetchone()
        # Streams that start, beat and stop under one id, on several servers.
        streams = db.execute(
            "SELECT COUNT(*) FILTER (WHERE stopped_at IS NOT NULL AND heartbeats > 0), "
            "COUNT(DISTINCT server_id) FROM core.streams"
        ).fetchone()
    assert landed is not None and landed[0] > 4_000  # the planning run's few, then the load
    assert staged == (landed[0], landed[0])
    assert sessions is not None and sessions[0] > 0
    assert streams is not None and streams[0] > 0 and streams[1] > 1
    assert figures["duckdb_copy_s_per_million_events"] > 0
    assert figures["run_over_duckdb_copy"] == pytest.approx(
        figures["run_s"] / (figures["duckdb_copy_s_per_million_events"] * 0.004), rel=0.05
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--events", "0"], "--events must be a positive number, not 0"),
        (["--events", "-5"], "--events must be a positive number, not -5"),
        (["--new-events", "0"], "--new-events must be a positive number, not 0"),
        (["--history-hours", "-1"], "--history-hours must be a positive number, not -1"),
        (["--no-models", "--no-stack"], "leave nothing to measure"),
        (["--events", "10"], "--events 10 cannot fill 24 hours of history"),
        (["--new-events", "29"], "--new-events must be at least 30"),
    ],
)
def test_sizes_that_mean_nothing_are_refused_before_any_lake_is_written(
    arguments: list[str], message: str
) -> None:
    parser = argparse.ArgumentParser()
    add_options(parser)
    with pytest.raises(StreamsimError, match=message):
        check_options(parser.parse_args(arguments))


def test_the_history_looks_compacted_long_ago_so_a_later_run_does_not_read_it_again(
    tmp_path: Path,
) -> None:
    """The pipeline finds new files by modification time: a history written just now would
    be new to the increments measured after it, and the late run would read it all again."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    write_history(tmp_path, 3_000, 3, end)

    files = sorted(tmp_path.rglob("*.parquet"))
    hour_ends = sorted((end - timedelta(hours=hours)).timestamp() for hours in (2, 1, 0))
    assert [path.stat().st_mtime for path in files] == hour_ends


def test_the_lakes_hold_exactly_the_events_asked_for(tmp_path: Path) -> None:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    write_history(tmp_path / "history", 1_001, 24, end)
    write_increment(tmp_path / "increment", 4_999, np.random.default_rng(1))

    for lake, events in (("history", 1_001), ("increment", 4_999)):
        with duckdb.connect() as db:
            row = db.execute(
                "SELECT COUNT(*) FROM read_parquet($glob)",
                {"glob": events_glob(tmp_path / lake)},
            ).fetchone()
        assert row == (events,)
