"""Counting a value the accepted_values expectation rejects as `unknown`."""

from __future__ import annotations

from sqlglot import exp
from sqlmesh.core.macros import MacroEvaluator

from sqlmesh import macro


@macro()
def accepted_or_unknown(
    evaluator: MacroEvaluator,
    event_type: exp.Expression,
    field: exp.Expression,
    value: exp.Expression,
) -> str:
    """`value` when the expectation accepts it for `field` of `event_type`, else 'unknown':
    a broken trait (`XX`, `toaster`) is kept as a row but never as a made-up value. The sets
    are the expectation's own, read from reference.event_fields."""
    allowed = (
        "(SELECT accepted FROM reference.event_fields "
        f"WHERE event_type = {event_type.sql('duckdb')} AND field = {field.sql('duckdb')})"
    )
    it = value.sql("duckdb")
    return f"CASE WHEN LIST_CONTAINS({allowed}, {it}) THEN {it} ELSE 'unknown' END"
