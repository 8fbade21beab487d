"""Reading one JSON field leniently: the checks must see a value only where its type is right."""

from __future__ import annotations

from sqlglot import exp
from sqlmesh.core.macros import MacroEvaluator

from sqlmesh import macro


@macro()
def number(evaluator: MacroEvaluator, body: exp.Expression, field: exp.Expression) -> str:
    """The field as DOUBLE when it is a JSON number, else NULL (text "12.5" is no number)."""
    name = field.name
    return (
        f"CASE WHEN JSON_TYPE({body.sql('duckdb')}, '$.{name}') IN ('BIGINT', 'UBIGINT', 'DOUBLE')"
        f" THEN ({body.sql('duckdb')} ->> '$.{name}')::DOUBLE END"
    )
