"""The dashboards and saved queries of `superset/`, read and turned into Superset's terms.

A dashboard is a TOML file of charts named by kind (line, bar, number, pie, table, rows); a
saved query is a SQL file whose first comment line is the question it answers and whose
next comment lines describe it. This module knows how each kind maps onto a Superset chart.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamsim.bi.server import SUPERSET_DIR

DASHBOARDS_DIR = SUPERSET_DIR / "dashboards"
QUERIES_DIR = SUPERSET_DIR / "queries"
CHART_WIDTH = {"number": 3, "pie": 4, "table": 6, "rows": 6, "line": 6, "bar": 6}
CHART_HEIGHT = {"number": 30}
GRID_COLUMNS = 12

_VIZ = {
    "line": "echarts_timeseries_line",
    "bar": "echarts_timeseries_bar",
    "number": "big_number_total",
    "pie": "pie",
    "table": "table",
    "rows": "table",
}


@dataclass(frozen=True)
class ChartSpec:
    name: str
    kind: str
    dataset: str
    metrics: tuple[str, ...] = ()
    groupby: tuple[str, ...] = ()
    x: str | None = None
    grain: str = "PT1M"
    columns: tuple[str, ...] = ()
    order_by: str | None = None
    limit: int = 1000
    where: str | None = None
    format: str | None = None

    def form_data(self, dataset_id: int) -> dict[str, Any]:
        """Superset's `params` for the chart: what the chart's query and look are built from."""
        form: dict[str, Any] = {
            "viz_type": _VIZ[self.kind],
            "datasource": f"{dataset_id}__table",
            "time_range": "No filter",
            "adhoc_filters": self._filters(),
            "row_limit": self.limit,
        }
        form.update(getattr(self, f"_{self.kind}_form")())
        return form

    def _filters(self) -> list[dict[str, Any]]:
        if self.where is None:
            return []
        return [{"expressionType": "SQL", "sqlExpression": self.where, "clause": "WHERE"}]

    def _series_form(self) -> dict[str, Any]:
        return {
            "x_axis": self.x,
            "time_grain_sqla": self.grain,
            "metrics": list(self.metrics),
            "groupby": list(self.groupby),
            "show_legend": True,
            "rich_tooltip": True,
            "truncate_metric": True,
        }

    def _line_form(self) -> dict[str, Any]:
        return self._series_form()

    def _bar_form(self) -> dict[str, Any]:
        return {**self._series_form(), "stack": "Stack"}

    def _number_form(self) -> dict[str, Any]:
        return {"metric": self.metrics[0], "y_axis_format": self.format or "SMART_NUMBER"}

    def _pie_form(self) -> dict[str, Any]:
        return {"metric": self.metrics[0], "groupby": list(self.groupby), "show_labels": True}

    def _table_form(self) -> dict[str, Any]:
        return {
            "query_mode": "aggregate",
            "groupby": list(self.groupby),
            "metrics": list(self.metrics),
            "timeseries_limit_metric": self.metrics[0],
            "order_desc": True,
        }

    def _rows_form(self) -> dict[str, Any]:
        order = [json.dumps([self.order_by, True])] if self.order_by else []
        return {"query_mode": "raw", "all_columns": list(self.columns), "order_by_cols": order}


@dataclass(frozen=True)
class DashboardSpec:
    title: str
    slug: str
    charts: tuple[ChartSpec, ...] = field(default=())


@dataclass(frozen=True)
class SavedQuery:
    label: str
    description: str
    sql: str


def read_dashboards(folder: Path = DASHBOARDS_DIR) -> list[DashboardSpec]:
    dashboards = []
    for path in sorted(folder.glob("*.toml")):
        spec = tomllib.loads(path.read_text())
        charts = tuple(_chart(entry) for entry in spec["charts"])
        dashboards.append(DashboardSpec(spec["title"], spec["slug"], charts))
    return dashboards


def _chart(entry: dict[str, Any]) -> ChartSpec:
    lists = ("metrics", "groupby", "columns")
    values: dict[str, Any] = {
        key: tuple(value) if key in lists else value for key, value in entry.items()
    }
    chart = ChartSpec(**values)
    if chart.kind not in _VIZ:
        raise ValueError(f"chart {chart.name!r}: unknown kind {chart.kind!r}")
    return chart


def read_saved_queries(folder: Path = QUERIES_DIR) -> list[SavedQuery]:
    queries = []
    for path in sorted(folder.glob("*.sql")):
        lines = path.read_text().splitlines()
        comments = [line.removeprefix("--").strip() for line in lines if line.startswith("--")]
        sql = "\n".join(line for line in lines if not line.startswith("--")).strip()
        queries.append(SavedQuery(comments[0], " ".join(comments[1:]), sql))
    return queries


def layout(title: str, charts: list[tuple[int, ChartSpec]]) -> dict[str, Any]:
    """Superset's position_json: charts in rows of the grid, in the order the file gives."""
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": title}},
    }
    row: list[str] = []
    used = GRID_COLUMNS
    for chart_id, chart in charts:
        width = CHART_WIDTH[chart.kind]
        if used + width > GRID_COLUMNS:
            row = _new_row(position)
            used = 0
        used += width
        key = f"CHART-{chart_id}"
        row_id = position["GRID_ID"]["children"][-1]
        row.append(key)
        position[key] = {
            "type": "CHART",
            "id": key,
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID", row_id],
            "meta": {
                "chartId": chart_id,
                "width": width,
                "height": CHART_HEIGHT.get(chart.kind, 50),
                "sliceName": chart.name,
            },
        }
    return position


def _new_row(position: dict[str, Any]) -> list[str]:
    row_id = f"ROW-{len(position['GRID_ID']['children']) + 1}"
    children: list[str] = []
    position[row_id] = {
        "type": "ROW",
        "id": row_id,
        "children": children,
        "parents": ["ROOT_ID", "GRID_ID"],
        "meta": {"background": "BACKGROUND_TRANSPARENT"},
    }
    position["GRID_ID"]["children"].append(row_id)
    return children
