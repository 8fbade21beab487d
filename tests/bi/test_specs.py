"""The dashboards and saved queries of superset/ read as Superset needs them."""

from __future__ import annotations

import json

import pytest

from streamsim.bi.catalog import DATASETS
from streamsim.bi.specs import layout, read_dashboards, read_saved_queries


@pytest.mark.timeout(10)
def test_the_three_dashboards_chart_only_datasets_that_are_provisioned() -> None:
    dashboards = read_dashboards()

    assert {d.slug for d in dashboards} == {"system-health", "product", "data-quality"}
    for dashboard in dashboards:
        assert dashboard.charts
        for chart in dashboard.charts:
            assert chart.dataset in DATASETS, chart.name
            assert chart.form_data(7)["datasource"] == "7__table"


@pytest.mark.timeout(10)
def test_every_chart_sits_in_a_row_no_wider_than_the_grid() -> None:
    for dashboard in read_dashboards():
        charts = list(enumerate(dashboard.charts, start=1))
        position = layout(dashboard.title, charts)

        rows = position["GRID_ID"]["children"]
        placed = [key for row in rows for key in position[row]["children"]]
        assert placed == [f"CHART-{n}" for n, _ in charts]
        for row in rows:
            width = sum(position[key]["meta"]["width"] for key in position[row]["children"])
            assert width <= 12
        json.dumps(position)


@pytest.mark.timeout(10)
def test_each_saved_query_asks_a_question_and_has_sql() -> None:
    queries = read_saved_queries()

    assert len(queries) >= 5
    for query in queries:
        assert query.label.endswith("?") and query.description
        assert query.sql.upper().startswith("SELECT") and "--" not in query.sql
