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
    with pytest.raises(StreamsimError, match="query failed"):
        query(settings, "INSERT INTO t VALUES (2)")
