/* The server's side of playback: one row per stream, as the servers reported it. */
MODEL (
  name core.streams,
  /* Windows follow ingestion; each run rebuilds the streams that received events in the
     window from all their events within the lookback, and upserts them by stream_id. */
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key stream_id
  ),
  allow_partials TRUE,
  interval_unit 'hour',
  grain stream_id,
  description 'One row per stream a server started, from server events whose envelope is valid: where and for whom it played, when it started and stopped (the first stream_stopped wins, as a lost server may be reported twice), why it stopped, and its seeks and heartbeats.',
  column_descriptions (
    stream_id = 'Stream identifier the server gave.',
    run_id = 'Simulation run.',
    server_id = 'Server that held the stream.',
    user_id = 'User the stream played to.',
    session_id = 'Browser session the stream played to.',
    video_id = 'Video streamed.',
    started_at = 'Site time the server started the stream.',
    start_position_s = 'Position the stream started at, in seconds.',
    stopped_at = 'Site time of the first stream_stopped; NULL while it plays.',
    stop_reason = 'Why it stopped: ended, user_left, paused, timeout, server_draining, server_lost.',
    reported_by_group = 'TRUE when the group reported the stop for a lost server.',
    stop_position_s = 'Position the server believed the stream was at when it stopped.',
    duration_s = 'Seconds from start to stop (site time); NULL while it plays.',
    seeks = 'Seeks the server restarted the stream for.',
    heartbeats = 'Heartbeats the server sent for the stream.',
    last_ingested_at = 'Latest ingestion time among the stream''s events: what the marts window on.'
  )
);

WITH touched AS (
  SELECT DISTINCT
    stream_id
  FROM staging.events
  WHERE
    ingested_at BETWEEN @arrivals_from(@start_ts, 'fresh', @this_model)
    AND @end_ts::TIMESTAMP
    AND envelope_valid
    AND source = 'server'
    AND NOT stream_id IS NULL
), stream_events AS (
  SELECT
    e.*,
    ROW_NUMBER() OVER (PARTITION BY e.stream_id ORDER BY e.emitted_at, e.kafka_offset) AS seq
  FROM staging.events AS e
  SEMI JOIN touched AS t
    ON e.stream_id = t.stream_id
  WHERE
    e.envelope_valid
    AND e.source = 'server'
    AND e.event_type IN ('stream_started', 'stream_seeked', 'stream_heartbeat', 'stream_stopped')
    AND e.ingested_at >= @start_ts::TIMESTAMP - INTERVAL (@VAR('session_lookback_hours', 24)) HOUR
), streams AS (
  SELECT
    stream_id,
    ARG_MIN(run_id, seq) AS run_id,
    ARG_MIN(server_id, seq) AS server_id,
    ARG_MIN(user_id, seq) AS user_id,
    ARG_MIN(session_id, seq) AS session_id,
    ARG_MIN(video_id, seq) AS video_id,
    MIN(emitted_at) FILTER (WHERE event_type = 'stream_started') AS started_at,
    ARG_MIN(position_s, seq) FILTER (WHERE event_type = 'stream_started') AS start_position_s,
    MIN(emitted_at) FILTER (WHERE event_type = 'stream_stopped') AS stopped_at,
    ARG_MIN(reason, seq) FILTER (WHERE event_type = 'stream_stopped') AS stop_reason,
    ARG_MIN_NULL(reported_by, seq) FILTER (WHERE event_type = 'stream_stopped') AS reported_by,
    ARG_MIN_NULL(position_s, seq) FILTER (WHERE event_type = 'stream_stopped') AS stop_position_s,
    COUNT(*) FILTER (WHERE event_type = 'stream_seeked') AS seeks,
    COUNT(*) FILTER (WHERE event_type = 'stream_heartbeat') AS heartbeats,
    MAX(ingested_at) AS last_ingested_at
  FROM stream_events
  GROUP BY
    1
)
SELECT
  stream_id::TEXT AS stream_id,
  run_id::TEXT AS run_id,
  server_id::TEXT AS server_id,
  user_id::TEXT AS user_id,
  session_id::TEXT AS session_id,
  video_id::TEXT AS video_id,
  started_at::TIMESTAMP AS started_at,
  start_position_s::DOUBLE AS start_position_s,
  stopped_at::TIMESTAMP AS stopped_at,
  stop_reason::TEXT AS stop_reason,
  COALESCE(reported_by = 'group', FALSE)::BOOLEAN AS reported_by_group,
  stop_position_s::DOUBLE AS stop_position_s,
  ROUND(EPOCH(stopped_at) - EPOCH(started_at), 3)::DOUBLE AS duration_s,
  seeks::INT AS seeks,
  heartbeats::INT AS heartbeats,
  last_ingested_at::TIMESTAMP AS last_ingested_at
FROM streams
/* A stream whose start fell out of the lookback is left as it was. */
WHERE
  NOT started_at IS NULL
