"""Dataset metrics derived from the warehouse's column descriptions."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from streamsim.bi.catalog import Column, metric_for, missing_tables, read_catalog

NAMES = {"plays", "completed_plays", "completion_rate", "passed", "checked"}


@pytest.mark.timeout(10)
def test_a_rate_described_as_a_over_b_is_re_aggregated_from_its_parts() -> None:
    rate = Column("completion_rate", "DOUBLE", "completed_plays over plays.")

    metric = metric_for(rate, NAMES)

    assert metric is not None
    assert metric.expression == "SUM(completed_plays) / NULLIF(SUM(plays), 0)"


@pytest.mark.timeout(10)
def test_a_share_written_with_a_slash_is_a_rate_too() -> None:
    metric = metric_for(Column("compliance", "DOUBLE", "passed / checked, from 0 to 1."), NAMES)

    assert metric is not None and metric.expression.startswith("SUM(passed)")


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("column", "expression"),
    [
        (Column("plays", "BIGINT", "Views whose first frame played."), "SUM(plays)"),
        (Column("p50_s", "DOUBLE", "Median seconds from emission."), "AVG(p50_s)"),
        (Column("p95_s", "DOUBLE", "95th percentile seconds."), "AVG(p95_s)"),
        (Column("u", "DOUBLE", "Highest sampled utilisation."), "MAX(u)"),
        (Column("watch_time_s", "DOUBLE", "Seconds of video played."), "SUM(watch_time_s)"),
        (Column("error_factor", "DOUBLE", "The error factor in force."), "AVG(error_factor)"),
    ],
)
def test_each_column_gets_the_aggregate_its_description_implies(
    column: Column, expression: str
) -> None:
    metric = metric_for(column, NAMES)

    assert metric is not None and metric.expression == expression


@pytest.mark.timeout(10)
def test_ranks_texts_and_ids_get_no_metric() -> None:
    assert metric_for(Column("rank", "BIGINT", "Rank by plays."), NAMES) is None
    assert metric_for(Column("video_id", "VARCHAR", "Video."), NAMES) is None


@pytest.mark.timeout(30)
def test_descriptions_come_from_the_comments_in_the_serving_copy(tmp_path: Path) -> None:
    copy = tmp_path / "serving.duckdb"
    with duckdb.connect(str(copy)) as db:
        db.execute("CREATE SCHEMA metrics")
        db.execute("CREATE TABLE metrics.top_videos (video_id TEXT, plays BIGINT)")
        db.execute("COMMENT ON TABLE metrics.top_videos IS 'One row per video.'")
        db.execute("COMMENT ON COLUMN metrics.top_videos.plays IS 'Plays of the video.'")

    [dataset] = read_catalog(copy)

    assert dataset.name == "metrics.top_videos" and dataset.description == "One row per video."
    assert [c.description for c in dataset.columns] == ["", "Plays of the video."]
    assert [m.name for m in dataset.metrics] == ["rows", "plays"]
    assert "metrics.top_videos" not in missing_tables(copy)
    assert "core.sessions" in missing_tables(copy)
