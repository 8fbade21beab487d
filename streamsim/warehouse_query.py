"""Ad-hoc SQL on the warehouse's serving copy, printed as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from streamsim.errors import StreamsimError
from streamsim.settings import Settings

# Questions only: a COPY could still write into the lake, the one folder a reader may open.
READING_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})


@contextmanager
def reader(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The serving copy, able to read the lake's files and nothing else on disk or the network.

    The copy's `lake.*` views read Parquet files in place, so the lake stays open; everything
    else (other files, URLs, extensions to install or load) is refused, and the query cannot
    lift the limits because the configuration is locked before it runs.
    """
    extensions_off: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    with duckdb.connect(str(settings.serving_path), read_only=True, config=extensions_off) as db:
        db.execute("SET allowed_directories = ?", [[f"{settings.lake_dir}/"]])
        db.execute("SET enable_external_access = false")
        db.execute("SET lock_configuration = true")
        yield db


def query(settings: Settings, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `sql` read-only: the serving copy is what BI reads, never the pipeline's file."""
    if not sql.strip():
        raise StreamsimError('no query given: streamsim sql "SELECT …"')
    path = settings.serving_path
    if not path.exists():
        raise StreamsimError(
            f"no warehouse at {path} yet: start the stack (`streamsim up`) and wait for the "
            "first pipeline run"
        )
    try:
        with reader(settings) as db:
            _refuse_all_but_questions(db, sql)
            result = db.execute(sql)
            if result.description is None:
                return [], []
            return [d[0] for d in result.description], result.fetchall()
    except duckdb.Error as error:
        raise StreamsimError(f"query failed: {str(error).splitlines()[0]}") from None


def _refuse_all_but_questions(db: duckdb.DuckDBPyConnection, sql: str) -> None:
    statements = db.extract_statements(sql)
    if not statements:  # only semicolons or comments: DuckDB would return no result at all
        raise StreamsimError('no query given: streamsim sql "SELECT …"')
    for statement in statements:
        if statement.type not in READING_STATEMENTS:
            raise StreamsimError(
                f"refused {_verb(statement)}: `streamsim sql` only asks questions "
                "of the warehouse (SELECT, WITH … SELECT, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE)"
            )
    if len(statements) > 1:
        # DuckDB would answer only the last; the others' answers would vanish unseen.
        raise StreamsimError(
            f"{len(statements)} questions given: `streamsim sql` asks one at a time"
        )


def _verb(statement: duckdb.Statement) -> str:
    """The statement's first word as written: DuckDB's own type names INSTALL a LOAD."""
    words = statement.query.split(maxsplit=1)
    return words[0].upper() if words and words[0].isalpha() else statement.type.name


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


def warehouse_counts(settings: Settings, run_id: str) -> tuple[int, int] | None:
    """Events queryable now of `run_id`, and of every run: one query of one copy, so the two
    agree even while the pipeline publishes. None before the first pipeline run."""
    if not settings.serving_path.exists():
        return None
    try:
        with reader(settings) as db:
            row = db.execute(
                "SELECT count(*) FILTER (WHERE run_id = ?), count(*) FROM staging.events", [run_id]
            ).fetchone()
    except duckdb.Error:
        return None
    return (int(row[0]), int(row[1])) if row else (0, 0)
