/* Each streaming server's life: when it began serving, drained and stopped. */
MODEL (
  name core.servers,
  /* Windows follow ingestion; a server with life events in the window is rebuilt from all of
     its life events (a handful per server) and upserted. */
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key (run_id, server_id)
  ),
  allow_partials TRUE,
  interval_unit 'hour',
  grain (run_id, server_id),
  description 'One row per streaming server that started, from its server_started, server_draining and server_stopped events (envelope valid). A server is alive at instant t when started_at <= t and (stopped_at is NULL or t < stopped_at).',
  column_descriptions (
    run_id = 'Simulation run (server ids restart at server-1 in every run).',
    server_id = 'Server identifier within the run.',
    capacity = 'Streams the server holds at most.',
    started_at = 'Site time the server began serving (server_started).',
    draining_at = 'Site time it stopped taking new streams (server_draining); NULL if it never drained.',
    stopped_at = 'Site time it stopped (the first server_stopped); NULL while alive.',
    lost = 'TRUE when its process died and the group reported the stop.',
    streams_cut = 'Streams its stop cut (server_draining reason); NULL for a lost server.',
    streams_lost = 'Streams a lost server took with it; NULL otherwise.',
    last_ingested_at = 'Latest ingestion time among its life events.'
  )
);

WITH touched AS (
  SELECT DISTINCT
    run_id,
    server_id
  FROM staging.events
  WHERE
    ingested_at BETWEEN @arrivals_from(@start_ts, 'fresh', @this_model)
    AND @end_ts::TIMESTAMP
    AND envelope_valid
    AND event_type IN ('server_started', 'server_draining', 'server_stopped')
), life AS (
  SELECT
    e.*,
    ROW_NUMBER() OVER (PARTITION BY e.run_id, e.server_id ORDER BY e.emitted_at, e.kafka_offset) AS seq
  FROM staging.events AS e
  SEMI JOIN touched AS t
    ON e.run_id = t.run_id AND e.server_id = t.server_id
  WHERE
    e.envelope_valid
    AND e.event_type IN ('server_started', 'server_draining', 'server_stopped')
)
SELECT
  run_id::TEXT AS run_id,
  server_id::TEXT AS server_id,
  ARG_MIN(capacity, seq) FILTER (WHERE event_type = 'server_started')::INT AS capacity,
  MIN(emitted_at) FILTER (WHERE event_type = 'server_started')::TIMESTAMP AS started_at,
  MIN(emitted_at) FILTER (WHERE event_type = 'server_draining')::TIMESTAMP AS draining_at,
  MIN(emitted_at) FILTER (WHERE event_type = 'server_stopped')::TIMESTAMP AS stopped_at,
  COALESCE(
    ARG_MIN(reason, seq) FILTER (WHERE event_type = 'server_stopped') = 'server_lost',
    FALSE
  )::BOOLEAN AS lost,
  ARG_MIN_NULL(streams_cut, seq) FILTER (WHERE event_type = 'server_stopped')::INT AS streams_cut,
  ARG_MIN_NULL(streams_lost, seq) FILTER (WHERE event_type = 'server_stopped')::INT AS streams_lost,
  MAX(ingested_at)::TIMESTAMP AS last_ingested_at
FROM life
GROUP BY
  1,
  2
HAVING
  NOT MIN(emitted_at) FILTER (WHERE event_type = 'server_started') IS NULL
