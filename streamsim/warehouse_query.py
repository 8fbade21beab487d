"""Ad-hoc SQL on the warehouse's serving copy, printed as a table or JSON."""

from __future__ import annotations

import json
from typing import Any

import duckdb

from streamsim.settings import Settings
from streamsim.stack.errors import StackError


def query(settings: Settings, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `sql` read-only: the serving copy is what BI reads, never the pipeline's file."""
    path = settings.serving_path
    if not path.exists():
        raise StackError(
            f"no warehouse at {path} yet: start the stack (`streamsim up`) and wait for the "
            "first pipeline run"
        )
    try:
        with duckdb.connect(str(path), read_only=True) as db:
            result = db.execute(sql)
            columns = [d[0] for d in result.description or []]
            return columns, result.fetchall()
    except duckdb.Error as error:
        raise StackError(f"query failed: {str(error).splitlines()[0]}") from None


def render_rows(columns: list[str], rows: list[tuple[Any, ...]], as_json: bool) -> str:
    if as_json:
        return json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=str)
    cells = [
        [str(c) for c in columns],
        *[["NULL" if v is None else str(v) for v in r] for r in rows],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [
        " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)
