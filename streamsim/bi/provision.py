"""Provision Superset from `superset/` and the warehouse: running it twice changes nothing.

Each object is found by its natural name (database name, schema and table, chart name,
dashboard slug, query label). It is created when missing, written when what the code wants
differs from what Superset holds, and left alone otherwise; the counts say which happened.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamsim.bi.catalog import Dataset, read_catalog
from streamsim.bi.client import SupersetClient
from streamsim.bi.specs import (
    ChartSpec,
    DashboardSpec,
    SavedQuery,
    layout,
    read_dashboards,
    read_saved_queries,
)

log = logging.getLogger(__name__)

DATABASE_NAME = "streamsim warehouse"
# Columns a dataset PUT accepts; the GET answers with more than the PUT takes.
_COLUMN_FIELDS = ("id", "column_name", "type", "is_dttm", "expression", "verbose_name")


@dataclass
class Outcome:
    """What one provisioning did, by kind of object and what happened to it."""

    changes: Counter[str] = field(default_factory=Counter)
    dashboards: dict[str, int] = field(default_factory=dict)

    def note(self, kind: str, what: str) -> None:
        self.changes[f"{kind} {what}"] += 1

    @property
    def changed(self) -> int:
        return sum(n for key, n in self.changes.items() if not key.endswith("unchanged"))


def database_uri(serving_copy: Path) -> str:
    return f"duckdb:///{serving_copy}"


def database_extra() -> dict[str, Any]:
    """Open the copy read-only, a new connection per query, and let SQL read no other file.

    Read-only takes no lock the pipeline could meet; a new connection sees the copy the
    pipeline published last; without external access SQL Lab cannot read the machine's files.
    """
    connect_args = {"read_only": True, "config": {"enable_external_access": False}}
    return {"engine_params": {"connect_args": connect_args}, "allows_virtual_table_explore": True}


class Provisioner:
    def __init__(self, client: SupersetClient, serving_copy: Path, refresh_s: int) -> None:
        self.client = client
        self.serving_copy = serving_copy
        self.refresh_s = refresh_s
        self.outcome = Outcome()
        self._listed: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}

    def run(self) -> Outcome:
        database_id = self.ensure_database()
        datasets = {d.name: self.ensure_dataset(database_id, d) for d in self.catalog()}
        for query in read_saved_queries():
            self.ensure_saved_query(database_id, query)
        for dashboard in read_dashboards():
            self.ensure_dashboard(dashboard, datasets)
        log.info("provisioned Superset: %s", dict(self.outcome.changes))
        return self.outcome

    def catalog(self) -> list[Dataset]:
        return read_catalog(self.serving_copy)

    # --- the database -----------------------------------------------------------------

    def ensure_database(self) -> int:
        wanted = {
            "database_name": DATABASE_NAME,
            "sqlalchemy_uri": database_uri(self.serving_copy),
            "expose_in_sqllab": True,
            "allow_run_async": False,
            "allow_dml": False,
            "allow_ctas": False,
            "allow_cvas": False,
            "extra": json.dumps(database_extra(), sort_keys=True),
        }
        found = self._find("database", "database_name", DATABASE_NAME)
        if found is None:
            return self._create("database", wanted)
        current = self.client.call("GET", f"/api/v1/database/{found}/connection")["result"]
        differs = (
            any(current.get(key) != value for key, value in wanted.items() if key != "extra")
            or json.loads(current.get("extra") or "{}") != database_extra()
        )
        return self._update("database", found, wanted, differs)

    # --- datasets ---------------------------------------------------------------------

    def ensure_dataset(self, database_id: int, dataset: Dataset) -> int:
        found = self._find_dataset(database_id, dataset)
        if found is None:
            body = {"database": database_id, "schema": dataset.schema, "table_name": dataset.table}
            found = self._create("dataset", body, count=False)
        current = self.client.call("GET", f"/api/v1/dataset/{found}")["result"]
        body = dataset_body(dataset, current)
        if body != dataset_body_now(current):
            self.client.call("PUT", f"/api/v1/dataset/{found}", body)
            self.outcome.note("dataset", "written")
        else:
            self.outcome.note("dataset", "unchanged")
        return found

    def _find_dataset(self, database_id: int, dataset: Dataset) -> int | None:
        columns = ("id", "schema", "table_name", "database.id")
        for row in self._list("dataset", columns):
            same_table = (row["schema"], row["table_name"]) == (dataset.schema, dataset.table)
            if same_table and row["database"]["id"] == database_id:
                return int(row["id"])
        return None

    # --- saved queries ----------------------------------------------------------------

    def ensure_saved_query(self, database_id: int, query: SavedQuery) -> None:
        wanted = {
            "db_id": database_id,
            "label": query.label,
            "description": query.description,
            "sql": query.sql,
            "schema": "main",
        }
        found = self._find("saved_query", "label", query.label)
        if found is None:
            self._create("saved_query", wanted)
            return
        current = self.client.call("GET", f"/api/v1/saved_query/{found}")["result"]
        now = {**current, "db_id": (current.get("database") or {}).get("id")}
        differs = any(now.get(key) != value for key, value in wanted.items())
        self._update("saved_query", found, wanted, differs)

    # --- charts and dashboards --------------------------------------------------------

    def ensure_dashboard(self, spec: DashboardSpec, datasets: dict[str, int]) -> None:
        dashboard_id = self._find("dashboard", "slug", spec.slug)
        if dashboard_id is None:
            body = {"dashboard_title": spec.title, "slug": spec.slug, "published": True}
            dashboard_id = self._create("dashboard", body)
        charts = [
            (self.ensure_chart(chart, datasets, dashboard_id), chart)
            for chart in spec.charts
            if chart.dataset in datasets
        ]
        wanted = {
            "dashboard_title": spec.title,
            "slug": spec.slug,
            "published": True,
            "position_json": json.dumps(layout(spec.title, charts), sort_keys=True),
            "json_metadata": json.dumps(self.dashboard_metadata(), sort_keys=True),
        }
        current = self.client.call("GET", f"/api/v1/dashboard/{dashboard_id}")["result"]
        self._update("dashboard", dashboard_id, wanted, dashboard_differs(current, wanted))
        self.outcome.dashboards[spec.slug] = dashboard_id

    def dashboard_metadata(self) -> dict[str, Any]:
        """Refresh on its own, without asking each viewer to pick an interval."""
        return {
            "refresh_frequency": self.refresh_s,
            "timed_refresh_immune_slices": [],
            "color_scheme": "supersetColors",
        }

    def ensure_chart(self, chart: ChartSpec, datasets: dict[str, int], dashboard: int) -> int:
        dataset_id = datasets[chart.dataset]
        wanted = {
            "slice_name": chart.name,
            "viz_type": chart.form_data(dataset_id)["viz_type"],
            "datasource_id": dataset_id,
            "datasource_type": "table",
            "params": json.dumps(chart.form_data(dataset_id), sort_keys=True),
            "dashboards": [dashboard],
        }
        found = self._find_chart(chart.name, dashboard)
        if found is None:
            return self._create("chart", wanted)
        current = self.client.call("GET", f"/api/v1/chart/{found}")["result"]
        differs = (
            current.get("params") != wanted["params"]
            or current.get("viz_type") != wanted["viz_type"]
            or [d["id"] for d in current.get("dashboards", [])] != [dashboard]
        )
        return self._update("chart", found, wanted, differs)

    def _find_chart(self, name: str, dashboard: int) -> int | None:
        columns = ("id", "slice_name", "dashboards.id")
        for row in self._list("chart", columns):
            on_dashboard = any(d["id"] == dashboard for d in row.get("dashboards", []))
            if row["slice_name"] == name and on_dashboard:
                return int(row["id"])
        return None

    # --- shared steps -----------------------------------------------------------------

    def _find(self, resource: str, key: str, value: str) -> int | None:
        for row in self._list(resource, ("id", key)):
            if row.get(key) == value:
                return int(row["id"])
        return None

    def _list(self, resource: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        """Each listing once per provisioning; a creation or a write makes it stale."""
        key = (resource, columns)
        if key not in self._listed:
            self._listed[key] = self.client.list_all(resource, columns)
        return self._listed[key]

    def _forget(self, resource: str) -> None:
        self._listed = {key: rows for key, rows in self._listed.items() if key[0] != resource}

    def _create(self, resource: str, body: dict[str, Any], count: bool = True) -> int:
        self._forget(resource)
        answer = self.client.call("POST", f"/api/v1/{resource}/", body)
        if count:
            self.outcome.note(resource, "created")
        return int(answer["id"])

    def _update(self, resource: str, found: int, body: dict[str, Any], differs: bool) -> int:
        if differs:
            self._forget(resource)
            self.client.call("PUT", f"/api/v1/{resource}/{found}", body)
            self.outcome.note(resource, "written")
        else:
            self.outcome.note(resource, "unchanged")
        return found


def dataset_body(dataset: Dataset, current: dict[str, Any]) -> dict[str, Any]:
    """The dataset as the code wants it, keeping the ids Superset gave columns and metrics."""
    described = {column.name: column.description for column in dataset.columns}
    columns = [
        {
            **{key: column.get(key) for key in _COLUMN_FIELDS},
            "description": described.get(column["column_name"], column.get("description")),
        }
        for column in current.get("columns", [])
    ]
    metric_ids = {m["metric_name"]: m["id"] for m in current.get("metrics", [])}
    metrics = [
        {
            **({"id": metric_ids[m.name]} if m.name in metric_ids else {}),
            "metric_name": m.name,
            "expression": m.expression,
            "description": m.description,
        }
        for m in dataset.metrics
    ]
    return {"description": dataset.description, "columns": columns, "metrics": metrics}


def dataset_body_now(current: dict[str, Any]) -> dict[str, Any]:
    """What Superset holds, in the shape of `dataset_body`, so the two compare."""
    columns = [
        {
            **{key: column.get(key) for key in _COLUMN_FIELDS},
            "description": column.get("description"),
        }
        for column in current.get("columns", [])
    ]
    metrics = [
        {
            "id": m["id"],
            "metric_name": m["metric_name"],
            "expression": m["expression"],
            "description": m.get("description"),
        }
        for m in current.get("metrics", [])
    ]
    return {"description": current.get("description"), "columns": columns, "metrics": metrics}


def dashboard_differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Superset adds its own keys to json_metadata; only the keys we set are compared."""
    if any(current.get(key) != wanted[key] for key in ("dashboard_title", "slug", "published")):
        return True
    if json.loads(current.get("position_json") or "{}") != json.loads(wanted["position_json"]):
        return True
    held = json.loads(current.get("json_metadata") or "{}")
    ours = json.loads(wanted["json_metadata"])
    return any(held.get(key) != value for key, value in ours.items())


def provision(client: SupersetClient, serving_copy: Path, refresh_s: int) -> Outcome:
    return Provisioner(client, serving_copy, refresh_s).run()
