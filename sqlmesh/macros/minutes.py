"""The minutes a per-minute mart rebuilds, written once for every mart that has them."""

from __future__ import annotations

from sqlglot import exp
from sqlmesh.core.macros import MacroEvaluator

from sqlmesh import macro


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

    Only counted events (envelope_valid, which includes a timely emitted_at) set the range:
    one skewed clock would otherwise stretch it over a day.
    """
    grace = evaluator.var("late_file_grace_minutes", 10)
    start, end = start_ts.sql("duckdb"), end_ts.sql("duckdb")
    return f"""
        SELECT
          n.run_id,
          n.first_minute,
          GREATEST(n.last_minute, COALESCE(k.last_minute, n.last_minute)) AS last_minute
        FROM (
          SELECT
            run_id,
            MIN(DATE_TRUNC('minute', emitted_at)) AS first_minute,
            MAX(DATE_TRUNC('minute', emitted_at)) AS last_minute
          FROM staging.events
          WHERE
            ingested_at BETWEEN {start}::TIMESTAMP - INTERVAL ({grace}) MINUTE
            AND {end}::TIMESTAMP
            AND envelope_valid
            AND source IN {sources.sql("duckdb")}
          GROUP BY 1
        ) AS n
        LEFT JOIN (
          SELECT run_id, MAX(minute) AS last_minute FROM {this_model.sql("duckdb")} GROUP BY 1
        ) AS k
          ON n.run_id = k.run_id
    """
