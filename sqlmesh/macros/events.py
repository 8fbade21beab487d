"""Macros that keep the models' knowledge of events in one place: the simulators' own code.

The catalogue of event types lives in `streamsim.events`; reading it here means a new type
is known to the warehouse's envelope rule the moment the simulators can emit it.
"""

from __future__ import annotations

from sqlglot import exp
from sqlmesh.core.macros import MacroEvaluator

from sqlmesh import macro
from streamsim.events import ORCHESTRATOR_EVENT_TYPES, SERVER_EVENT_TYPES, USER_EVENT_TYPES

# Plain text, not the enum: SQLMesh stores a macro's globals by their repr.
_TYPES_BY_SOURCE = {
    "user": tuple(sorted(str(kind) for kind in USER_EVENT_TYPES)),
    "server": tuple(sorted(str(kind) for kind in SERVER_EVENT_TYPES)),
    "orchestrator": tuple(sorted(str(kind) for kind in ORCHESTRATOR_EVENT_TYPES)),
}
_NUMBER_TYPES = ("BIGINT", "UBIGINT", "DOUBLE")


@macro()
def event_types_of(evaluator: MacroEvaluator, source: exp.Expression) -> exp.Tuple:
    """The event types a source may send, as a tuple of text literals for `IN`."""
    return exp.Tuple(
        expressions=[exp.Literal.string(name) for name in _TYPES_BY_SOURCE[source.name]]
    )


@macro()
def json_number(evaluator: MacroEvaluator, body: exp.Expression, key: exp.Expression) -> str:
    """A body field as DOUBLE only when it was sent as a JSON number: "12.5" is not 12.5."""
    path = f"'$.{key.name}'"
    doc = body.sql(dialect="duckdb")
    types = ", ".join(f"'{name}'" for name in _NUMBER_TYPES)
    return (
        f"CASE WHEN JSON_TYPE({doc}, {path}) IN ({types}) "
        f"THEN ({doc} ->> {path})::DOUBLE END"
    )


@macro()
def json_text(evaluator: MacroEvaluator, body: exp.Expression, key: exp.Expression) -> str:
    """A body field as text only when it was sent as a JSON string."""
    path = f"'$.{key.name}'"
    doc = body.sql(dialect="duckdb")
    return f"CASE WHEN JSON_TYPE({doc}, {path}) = 'VARCHAR' THEN {doc} ->> {path} END"
