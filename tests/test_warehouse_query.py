"""Ad-hoc SQL results, printed as an aligned table or as JSON."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from streamsim.errors import StreamsimError
from streamsim.settings import load_settings
from streamsim.warehouse_query import query, render_rows

COLUMNS = ["video_id", "plays", "country"]
ROWS = [("v00001", 1200, "US"), ("v2", 7, None)]


def test_the_table_aligns_every_column_to_its_widest_cell() -> None:
    lines = render_rows(COLUMNS, ROWS, as_json=False).splitlines()

    assert lines == [
        "video_id | plays | country",
        "---------+-------+--------",
        "v00001   | 1200  | US     ",
        "v2       | 7     | NULL   ",
        "(2 rows)",
    ]


def test_a_missing_value_prints_as_null() -> None:
    table = render_rows(["a"], [(None,)], as_json=False)

    assert table.splitlines()[2] == "NULL"


@pytest.mark.parametrize(("rows", "count"), [([], "(0 rows)"), ([(1,)], "(1 row)")])
def test_the_table_ends_with_the_row_count(rows: list[tuple[object, ...]], count: str) -> None:
    assert render_rows(["n"], rows, as_json=False).splitlines()[-1] == count


def test_an_empty_result_still_shows_its_header() -> None:
    assert render_rows(["plays"], [], as_json=False).splitlines()[:2] == ["plays", "-----"]


def test_json_mode_prints_one_object_per_row_with_nulls() -> None:
    printed = render_rows(COLUMNS, ROWS, as_json=True)

    assert json.loads(printed) == [
        {"video_id": "v00001", "plays": 1200, "country": "US"},
        {"video_id": "v2", "plays": 7, "country": None},
    ]


def test_json_mode_prints_dates_and_decimals_as_text() -> None:
    printed = render_rows(["day", "share"], [(date(2026, 12, 4), Decimal("0.25"))], as_json=True)

    assert json.loads(printed) == [{"day": "2026-12-04", "share": "0.25"}]


def test_a_query_reads_the_serving_copy_read_only(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    settings.serving_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.serving_path)) as db:
        db.execute("CREATE TABLE t AS SELECT 1 AS n")

    assert query(settings, "SELECT n, n + 1 AS m FROM t") == (["n", "m"], [(1, 2)])
    with pytest.raises(StreamsimError, match="refused INSERT:"):
        query(settings, "INSERT INTO t VALUES (2)")


@pytest.fixture
def lake_view(tmp_path: Path) -> Path:
    """A serving copy whose view reads a Parquet file in the lake, as the real copy's does."""
    settings = load_settings(state_dir=tmp_path)
    settings.serving_path.parent.mkdir(parents=True)
    settings.lake_dir.mkdir(parents=True)
    lake_file = settings.lake_dir / "events.parquet"
    with duckdb.connect(str(settings.serving_path)) as db:
        db.execute(f"COPY (SELECT 7 AS n) TO '{lake_file}' (FORMAT parquet)")
        db.execute(f"CREATE VIEW lake_events AS SELECT * FROM read_parquet('{lake_file}')")
    return tmp_path


def test_a_query_still_reads_the_lake_through_the_copys_views(lake_view: Path) -> None:
    settings = load_settings(state_dir=lake_view)

    assert query(settings, "SELECT n FROM lake_events") == (["n"], [(7,)])


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        ("COPY (SELECT 1) TO '{lake}/written.csv'", "refused COPY:"),
        ("SELECT 1; SET enable_external_access = true", "refused SET:"),
        ("INSTALL httpfs", "refused INSTALL:"),
        ("LOAD httpfs", "refused LOAD:"),
        ("/* a comment first */ INSERT INTO t VALUES (1)", "refused INSERT:"),
        ("ATTACH '{outside}/other.duckdb'", "refused ATTACH:"),
    ],
)
def test_a_query_cannot_write_change_settings_or_fetch_extensions(
    lake_view: Path, tmp_path_factory: pytest.TempPathFactory, sql: str, refusal: str
) -> None:
    settings = load_settings(state_dir=lake_view)
    outside = tmp_path_factory.mktemp("outside")

    with pytest.raises(StreamsimError, match=refusal):
        query(settings, sql.format(lake=settings.lake_dir, outside=outside))
    assert sorted(p.name for p in settings.lake_dir.iterdir()) == ["events.parquet"]
    assert list(outside.iterdir()) == []


def test_two_questions_at_once_are_refused_rather_than_one_answered(lake_view: Path) -> None:
    settings = load_settings(state_dir=lake_view)

    with pytest.raises(StreamsimError, match=r"2 questions given: .* one at a time"):
        query(settings, "SELECT 1; SELECT n FROM lake_events")
    assert query(settings, "SELECT n FROM lake_events;") == (["n"], [(7,)])


@pytest.mark.parametrize("sql", [";", " ; ;", "/* only a comment */"])
def test_text_that_holds_no_question_is_refused_in_one_line(lake_view: Path, sql: str) -> None:
    with pytest.raises(StreamsimError, match="no query given"):
        query(load_settings(state_dir=lake_view), sql)


def test_a_query_reads_no_file_outside_the_lake(lake_view: Path, tmp_path: Path) -> None:
    settings = load_settings(state_dir=lake_view)
    secret = tmp_path.parent / "secret.csv"
    secret.write_text("token\nhunter2\n")

    with pytest.raises(StreamsimError, match="disabled by configuration"):
        query(settings, f"SELECT * FROM read_csv('{secret}')")
