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


# Every body field staging reads, in one fixed order: the body is parsed once per event into a
# list of these values (DuckDB parses the whole text again for every path asked of it).
BODY_FIELDS = (
    *("event_id", "schema_version", "emitted_at", "run_id", "user_id", "session_id"),
    *("video_id", "position_s", "from_s", "to_s", "direction", "server_id", "stream_id"),
    *("reason", "restart_reason", "video_start_time_ms", "waited_ms", "refusals", "via"),
    *("category", "next", "page", "country", "device", "browser", "connection"),
    *("videos_watched", "capacity", "streams", "utilisation", "servers", "desired_servers"),
    *("serving_servers", "draining_servers", "target_utilisation", "streams_cut"),
    *("streams_lost", "reported_by"),
)


@macro()
def body_fields(evaluator: MacroEvaluator, body: exp.Expression) -> str:
    """The values of BODY_FIELDS in a body as a list of JSON values, from one parse."""
    paths = ", ".join(f"'$.{name}'" for name in BODY_FIELDS)
    return f"JSON_EXTRACT({body.sql(dialect='duckdb')}, [{paths}])"


def _field(fields: exp.Expression, key: exp.Expression) -> str:
    """One value of a `body_fields` list (DuckDB lists count from 1); NULL when absent."""
    return f"{fields.sql(dialect='duckdb')}[{BODY_FIELDS.index(key.name) + 1}]"


@macro()
def json_type(evaluator: MacroEvaluator, fields: exp.Expression, key: exp.Expression) -> str:
    """The JSON type of a body field, from a `body_fields` list."""
    return f"JSON_TYPE({_field(fields, key)})"


@macro()
def json_number(evaluator: MacroEvaluator, fields: exp.Expression, key: exp.Expression) -> str:
    """A body field as DOUBLE only when it was sent as a JSON number: "12.5" is not 12.5."""
    value = _field(fields, key)
    types = ", ".join(f"'{name}'" for name in _NUMBER_TYPES)
    return f"CASE WHEN JSON_TYPE({value}) IN ({types}) THEN ({value} ->> '$')::DOUBLE END"


@macro()
def json_text(evaluator: MacroEvaluator, fields: exp.Expression, key: exp.Expression) -> str:
    """A body field as text only when it was sent as a JSON string."""
    value = _field(fields, key)
    return f"CASE WHEN JSON_TYPE({value}) = 'VARCHAR' THEN {value} ->> '$' END"
