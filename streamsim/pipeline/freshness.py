"""How long this run's events took from emission to the serving copy, recorded per publication.

An event is queryable when the first serving copy holding it is published; it was emitted
at its `emitted_at`, site time, which the run's clock maps back to the wall clock. Each
publication writes one row into `ops.freshness` just before the copy is made, so dashboards
read the figures from the copy itself. To know which events a publication adds without
reading all of staging, the keys published during the last few minutes of ingestion are
kept in `ops.freshness_seen`; staging loads nothing later than that look-back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import duckdb

from streamsim.pipeline.project import serving_catalog
from streamsim.settings import Settings

logger = logging.getLogger(__name__)

# Longer than staging's late-file grace (10 minutes), so no late event is counted twice.
LOOKBACK_MINUTES = 15

_SETUP = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.freshness_seen (event_key TEXT, ingested_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS ops.freshness (
  published_at TIMESTAMP, run_id TEXT, events BIGINT, p50_s DOUBLE, p95_s DOUBLE, max_s DOUBLE
);
COMMENT ON TABLE ops.freshness IS 'One row per publication of the serving copy: how long the \
events it made queryable took from emission (wall clock) to publication, in seconds.';
COMMENT ON COLUMN ops.freshness.published_at IS 'Real UTC time the copy was published.';
COMMENT ON COLUMN ops.freshness.run_id IS 'Simulation run whose events are measured.';
COMMENT ON COLUMN ops.freshness.events IS 'Events of the run first queryable in this copy.';
COMMENT ON COLUMN ops.freshness.p50_s IS 'Median seconds from emission to queryable.';
COMMENT ON COLUMN ops.freshness.p95_s IS '95th percentile seconds from emission to queryable.';
COMMENT ON COLUMN ops.freshness.max_s IS 'Slowest event, seconds from emission to queryable.';
"""

_NEW_EVENTS = f"""
CREATE TEMP TABLE fresh AS
SELECT s.event_key, s.ingested_at, s.emitted_at, s.timely
FROM staging.events AS s
WHERE s.run_id = $run_id
  AND s.ingested_at >= (
    SELECT COALESCE(MAX(ingested_at), TIMESTAMP '1970-01-01') - INTERVAL {LOOKBACK_MINUTES} MINUTE
    FROM ops.freshness_seen
  )
  AND s.event_key NOT IN (SELECT event_key FROM ops.freshness_seen)
"""

# An event whose clock staging judged untimely (skewed) says nothing of the pipeline's delay.
_SUMMARY = """
WITH delays AS (
  SELECT $published - ($origin + (EPOCH(emitted_at) - $origin) / $speed) AS delay_s
  FROM fresh
  WHERE emitted_at IS NOT NULL AND timely
)
SELECT COUNT(*), QUANTILE_CONT(delay_s, 0.5), QUANTILE_CONT(delay_s, 0.95), MAX(delay_s)
FROM delays
"""

_REMEMBER = f"""
INSERT INTO ops.freshness_seen SELECT event_key, ingested_at FROM fresh;
DELETE FROM ops.freshness_seen WHERE ingested_at < (
  SELECT MAX(ingested_at) - INTERVAL {LOOKBACK_MINUTES} MINUTE FROM ops.freshness_seen
);
"""


@dataclass(frozen=True)
class Freshness:
    """The events one publication made queryable, and how long they took."""

    events: int = 0
    p50_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None

    def metadata(self) -> dict[str, Any]:
        figures = {"p50_s": self.p50_s, "p95_s": self.p95_s, "max_s": self.max_s}
        return {
            "fresh_events": self.events,
            **{f"freshness_{k}": round(v, 2) for k, v in figures.items() if v is not None},
        }


def record_freshness(settings: Settings, published_at: float) -> Freshness:
    """Measure the events new since the last publication and write the row; the caller holds
    the writer lock. A warehouse without staging yet has nothing to measure."""
    connection = duckdb.connect()
    try:
        catalog = serving_catalog(settings)
        connection.execute(f"ATTACH '{settings.warehouse_path}' AS \"{catalog}\"")
        connection.execute(f'USE "{catalog}"')
        if not _has_staging(connection):
            return Freshness()
        connection.execute("BEGIN")
        connection.execute(_SETUP)
        freshness = _measure(connection, settings, published_at)
        connection.execute("COMMIT")
        return freshness
    finally:
        connection.close()


def _has_staging(connection: duckdb.DuckDBPyConnection) -> bool:
    found = connection.execute(
        "SELECT COUNT(*) FROM duckdb_views() WHERE schema_name = 'staging' AND view_name = 'events'"
    ).fetchone()
    return bool(found and found[0])


def _measure(
    connection: duckdb.DuckDBPyConnection, settings: Settings, published_at: float
) -> Freshness:
    origin = settings.site_origin if settings.site_origin is not None else published_at
    connection.execute(_NEW_EVENTS, {"run_id": settings.run_id})
    row = connection.execute(
        _SUMMARY, {"published": published_at, "origin": origin, "speed": settings.speed}
    ).fetchone()
    connection.execute(_REMEMBER)
    if not row or not row[0]:
        return Freshness()
    freshness = Freshness(int(row[0]), float(row[1]), float(row[2]), float(row[3]))
    connection.execute(
        "INSERT INTO ops.freshness "
        "VALUES (MAKE_TIMESTAMP(($at * 1e6)::BIGINT), $run, $n, $p50, $p95, $max)",
        {
            "at": published_at,
            "run": settings.run_id,
            "n": freshness.events,
            "p50": freshness.p50_s,
            "p95": freshness.p95_s,
            "max": freshness.max_s,
        },
    )
    logger.info("freshness of %s new events: p95 %.1f s", freshness.events, freshness.p95_s)
    return freshness
