"""Superset datasets built from the warehouse's own descriptions, so each is written once.

SQLMesh writes every model's `description` and `column_descriptions` into the warehouse as
table and column comments, and the pipeline's own `ops.freshness` carries comments too. This
module reads them from the serving copy and derives each dataset's metrics from its columns:
a count is summed, a mean or percentile averaged, and a rate described as "`a` over `b`" is
re-aggregated as SUM(a) / SUM(b), which stays right at any grain a chart picks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

# What the dashboards and SQL Lab show; the staging and lake layers stay with the engineers.
DATASETS = (
    "core.sessions",
    "core.video_views",
    "core.streams",
    "core.servers",
    "core.scaling_decisions",
    "core.server_utilisation",
    "core.settings_timeline",
    "metrics.events_per_minute",
    "metrics.system_per_minute",
    "metrics.product_by_hour",
    "metrics.top_videos",
    "quality.compliance",
    "quality.quarantine",
    "ops.freshness",
    "ops.consumer_lag",
)

_RATIO = re.compile(r"^`?(\w+)`?\s+(?:over|/)\s+`?(\w+)`?\b")
_AVERAGED = re.compile(r"^(mean|median|\d+(?:st|nd|rd|th) percentile|the error factor)", re.I)
_HIGHEST = re.compile(r"^(highest|slowest)", re.I)
_NOT_A_MEASURE = re.compile(r"^(rank|size|streams one server|position)", re.I)
_ADDITIVE_FLOAT = re.compile(r"^(seconds of|summed)", re.I)
_INTEGER = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER")
_FLOAT = ("DOUBLE", "FLOAT", "REAL", "DECIMAL")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class Metric:
    name: str
    expression: str
    description: str


@dataclass(frozen=True)
class Dataset:
    schema: str
    table: str
    description: str
    columns: tuple[Column, ...]
    metrics: tuple[Metric, ...] = field(default=())

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


def metric_for(column: Column, names: set[str]) -> Metric | None:
    """The one aggregate a column's description implies, or None when none makes sense."""
    text, name = column.description.strip(), column.name
    ratio = _RATIO.match(text)
    if ratio and {ratio[1], ratio[2]} <= names:
        expression = f"SUM({ratio[1]}) / NULLIF(SUM({ratio[2]}), 0)"
        return Metric(name, expression, f"{text} Re-aggregated: {expression}.")
    numeric = column.type.upper()
    if not numeric.startswith(_INTEGER + _FLOAT) or _NOT_A_MEASURE.match(text):
        return None
    if _AVERAGED.match(text):
        return Metric(name, f"AVG({name})", f"{text} Averaged over the rows charted.")
    if _HIGHEST.match(text):
        return Metric(name, f"MAX({name})", f"{text} Highest over the rows charted.")
    if numeric.startswith(_INTEGER) or _ADDITIVE_FLOAT.match(text):
        return Metric(name, f"SUM({name})", f"{text} Summed over the rows charted.")
    return Metric(name, f"AVG({name})", f"{text} Averaged over the rows charted.")


def with_metrics(dataset: Dataset) -> Dataset:
    names = {column.name for column in dataset.columns}
    found = [metric_for(column, names) for column in dataset.columns]
    rows = Metric("rows", "COUNT(*)", f"Rows of {dataset.name}.")
    metrics = (rows, *(metric for metric in found if metric is not None))
    return Dataset(dataset.schema, dataset.table, dataset.description, dataset.columns, metrics)


def read_catalog(serving_copy: Path, wanted: tuple[str, ...] = DATASETS) -> list[Dataset]:
    """Every wanted table or view present in the serving copy, with comments and metrics."""
    with duckdb.connect(str(serving_copy), read_only=True) as db:
        described = _relation_comments(db)
        columns = _columns(db)
    datasets = []
    for name in wanted:
        if name not in columns:
            continue
        schema, table = name.split(".")
        dataset = Dataset(schema, table, described.get(name, ""), tuple(columns[name]))
        datasets.append(with_metrics(dataset))
    return datasets


def missing_tables(serving_copy: Path, wanted: tuple[str, ...] = DATASETS) -> list[str]:
    """Tables the dashboards need that the serving copy does not hold yet."""
    if not serving_copy.exists():
        return list(wanted)
    with duckdb.connect(str(serving_copy), read_only=True) as db:
        present = set(_columns(db))
    return [name for name in wanted if name not in present]


def _relation_comments(db: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = db.execute(
        "SELECT schema_name || '.' || table_name, comment FROM duckdb_tables() "
        "UNION ALL SELECT schema_name || '.' || view_name, comment FROM duckdb_views() "
        "WHERE NOT internal"
    ).fetchall()
    return {name: comment or "" for name, comment in rows}


def _columns(db: duckdb.DuckDBPyConnection) -> dict[str, list[Column]]:
    rows = db.execute(
        "SELECT schema_name || '.' || table_name, column_name, data_type, comment "
        "FROM duckdb_columns() WHERE database_name = current_database() "
        "ORDER BY schema_name, table_name, column_index"
    ).fetchall()
    found: dict[str, list[Column]] = {}
    for name, column, data_type, comment in rows:
        found.setdefault(name, []).append(Column(column, data_type, comment or ""))
    return found
