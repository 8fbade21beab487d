"""Where a run's windows begin: of arrivals, and of the minutes a per-minute mart rebuilds.

A run of a group of models (fresh, quality) reads the arrivals since the earliest row of the
lake files new since the group last ran: the pipeline writes that time into
`ops.window_marks` before the run (streamsim.pipeline.arrivals). Without a mark (the group's
first run, a model's first fill, SQLMesh's unit tests) a window begins at its interval's
start less the late-file grace, as SQLMesh gives it.
"""

from __future__ import annotations

from sqlglot import exp
from sqlmesh.core.engine_adapter import EngineAdapter
from sqlmesh.core.macros import MacroEvaluator

from sqlmesh import macro

_MARKS_EXIST = """
SELECT COUNT(*) FROM duckdb_tables()
WHERE database_name = CURRENT_DATABASE() AND schema_name = 'ops' AND table_name = 'window_marks'
"""


def window_start(
    evaluator: MacroEvaluator, start_ts: exp.Expression, run_group: str, this_model: exp.Expression
) -> str:
    """SQL for the earliest `ingested_at` a run of `run_group` must read.

    Read when the model is evaluated, so the bound is a constant DuckDB can prune files and
    row groups by. A model with no rows yet fills from its interval's start: its first fill
    (a new model, a changed one) must not start at the group's mark.
    """
    grace = evaluator.var("late_file_grace_minutes", 10)
    interval_from = f"{start_ts.sql('duckdb')}::TIMESTAMP - INTERVAL ({grace}) MINUTE"
    if evaluator.runtime_stage != "evaluating":
        return interval_from
    mark = _mark(evaluator.engine_adapter, run_group, this_model.sql("duckdb"))
    return interval_from if mark is None else f"TIMESTAMP '{mark}'"


def _mark(adapter: EngineAdapter, run_group: str, this_model: str) -> str | None:
    exists = adapter.fetchone(_MARKS_EXIST)
    if (
        not exists
        or not exists[0]
        or adapter.fetchone(f"SELECT 1 FROM {this_model} LIMIT 1") is None
    ):
        return None
    row = adapter.fetchone(
        f"SELECT arrivals_from FROM ops.window_marks WHERE run_group = '{run_group}'"
    )
    return None if not row or row[0] is None else str(row[0])


@macro()
def arrivals_from(
    evaluator: MacroEvaluator,
    start_ts: exp.Expression,
    run_group: exp.Expression,
    this_model: exp.Expression,
) -> str:
    """The earliest `ingested_at` this run of the model's group reads (see the module)."""
    return window_start(evaluator, start_ts, run_group.name, this_model)


@macro()
def minute_ranges(
    evaluator: MacroEvaluator,
    sources: exp.Expression,
    start_ts: exp.Expression,
    end_ts: exp.Expression,
    this_model: exp.Expression,
) -> str:
    """Per run, the minutes a window touches: from the earliest minute of the counted events
    of `sources` that arrived in it to the latest minute known for the run (a late event can
    change every minute after it).

    With user events, from the start of every session and view they belong to, too: a new
    event moves its session's `closed_at` (and its view's) from where the earlier events left
    it, which can be minutes before the new event itself.

    Only counted events (envelope_valid, which includes a timely emitted_at) set the range:
    one skewed clock would otherwise stretch it over a day.
    """
    start, end = window_start(evaluator, start_ts, "fresh", this_model), end_ts.sql("duckdb")
    names = [source.name for source in sources.expressions] or [sources.name]
    arrived = f"""
          SELECT run_id, session_id, source, DATE_TRUNC('minute', emitted_at) AS minute
          FROM staging.events
          WHERE
            ingested_at BETWEEN {start} AND {end}::TIMESTAMP
            AND envelope_valid
            AND source IN {sources.sql("duckdb")}
    """
    starts = _session_and_view_starts() if "user" in names else ""
    return f"""
        WITH arrived AS ({arrived}), touched_minutes AS (
          SELECT run_id, minute FROM arrived{starts}
        )
        SELECT
          n.run_id,
          n.first_minute,
          GREATEST(n.last_minute, COALESCE(k.last_minute, n.last_minute)) AS last_minute
        FROM (
          SELECT run_id, MIN(minute) AS first_minute, MAX(minute) AS last_minute
          FROM touched_minutes
          WHERE minute IS NOT NULL
          GROUP BY 1
        ) AS n
        LEFT JOIN (
          SELECT run_id, MAX(minute) AS last_minute FROM {this_model.sql("duckdb")} GROUP BY 1
        ) AS k
          ON n.run_id = k.run_id
    """


def _session_and_view_starts() -> str:
    """The start minutes of the sessions and views the arrived user events belong to."""
    touched = "(SELECT DISTINCT run_id, session_id FROM arrived WHERE source = 'user')"
    return f"""
          UNION ALL
          SELECT s.run_id, DATE_TRUNC('minute', s.started_at)
          FROM core.sessions AS s
          SEMI JOIN {touched} AS t ON s.run_id = t.run_id AND s.session_id = t.session_id
          UNION ALL
          SELECT v.run_id, DATE_TRUNC('minute', v.started_at)
          FROM core.video_views AS v
          SEMI JOIN {touched} AS t ON v.run_id = t.run_id AND v.session_id = t.session_id
    """
