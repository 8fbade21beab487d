/* Typed, deduplicated events: the one row per event that every metric and check reads. */
MODEL (
  name staging.events,
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key event_key
  ),
  /* Windows follow ingestion (real time), not emitted_at (site time, which runs ahead of the
     wall clock when the simulation is sped up). Partial intervals let every run load up to
     now, so new lake files become queryable on the next run rather than the next day. A
     partial interval is reloaded from its start on each run, so hourly intervals bound that
     rework to an hour of rows (the anti-join below makes it harmless). */
  allow_partials TRUE,
  interval_unit 'hour',
  grain event_key,
  description 'One row per event: envelope fields typed (NULL where the text does not parse), common body fields extracted, duplicates from at-least-once delivery removed (the first copy ingested wins).',
  column_descriptions (
    event_key = 'Deduplication key: event_id when present, else a key derived from the Kafka coordinates and body of the message, so events without an id are kept once each and stay countable.',
    event_id = 'Identifier the emitter gave the event; NULL when missing or blank.',
    event_type = 'Event type as sent; unknown values are kept for the checks to count.',
    schema_version = 'Envelope schema version; NULL when not an integer.',
    emitted_at = 'Site time of emission (UTC); NULL when not a valid ISO 8601 time.',
    source = 'Emitter kind as sent: user, server or orchestrator.',
    run_id = 'Simulation run that emitted the event.',
    user_id = 'Simulated user; NULL for server and orchestrator events.',
    session_id = 'Browser session; NULL for server and orchestrator events.',
    video_id = 'Video the event is about, from the body.',
    position_s = 'Playback position in seconds, from the body; NULL when not a number.',
    server_id = 'Streaming server, from the body.',
    stream_id = 'Stream on a server, from the body.',
    reason = 'Why a stream stopped or a decision was taken, from the body.',
    body = 'The whole event as the JSON text received, for type-specific fields.',
    topic = 'Kafka topic the event was read from.',
    kafka_partition = 'Kafka partition the event was read from.',
    kafka_offset = 'Offset of the event in its Kafka partition.',
    ingested_at = 'Real UTC time at which the sink wrote the first copy of the event.'
  )
);

WITH window_rows AS (
  SELECT
    *
  FROM lake.events
  /* Files become visible a moment after their rows are stamped, so each window reaches back
     a grace period; rows seen before are skipped below, which makes the overlap harmless. */
  WHERE
    ingested_at BETWEEN @start_ts::TIMESTAMP - INTERVAL (@VAR('late_file_grace_minutes', 10)) MINUTE
    AND @end_ts::TIMESTAMP
    /* Skips older files unopened: no row is ingested after its file is written. */
    AND (
      file_written_at IS NULL
      OR file_written_at >= @start_ts::TIMESTAMP - INTERVAL (@VAR('late_file_grace_minutes', 10)) MINUTE
    )
), keyed AS (
  SELECT
    COALESCE(
      NULLIF(TRIM(event_id), ''),
      'no-id:' || MD5(CONCAT_WS('|', topic, kafka_partition, kafka_offset, body))
    ) AS event_key,
    NULLIF(TRIM(event_id), '') AS event_id,
    event_type,
    TRY_CAST(schema_version AS INT) AS schema_version,
    TIMEZONE('UTC', TRY_CAST(emitted_at AS TIMESTAMPTZ))::TIMESTAMP AS emitted_at,
    source,
    run_id,
    user_id,
    session_id,
    body,
    /* Extraction fails on text that is not JSON; such a body yields NULL fields instead. */
    CASE WHEN JSON_VALID(body) THEN body::JSON END AS body_json,
    topic,
    kafka_partition,
    kafka_offset,
    ingested_at
  FROM window_rows
), first_copies AS (
  SELECT
    *
  FROM keyed
  QUALIFY
    ROW_NUMBER() OVER (
      PARTITION BY event_key
      ORDER BY ingested_at, topic, kafka_partition, kafka_offset
    ) = 1
)
SELECT
  event_key::TEXT AS event_key,
  event_id::TEXT AS event_id,
  event_type::TEXT AS event_type,
  schema_version::INT AS schema_version,
  emitted_at::TIMESTAMP AS emitted_at,
  source::TEXT AS source,
  run_id::TEXT AS run_id,
  user_id::TEXT AS user_id,
  session_id::TEXT AS session_id,
  (body_json ->> '$.video_id')::TEXT AS video_id,
  TRY_CAST(body_json ->> '$.position_s' AS DOUBLE) AS position_s,
  (body_json ->> '$.server_id')::TEXT AS server_id,
  (body_json ->> '$.stream_id')::TEXT AS stream_id,
  (body_json ->> '$.reason')::TEXT AS reason,
  body::TEXT AS body,
  topic::TEXT AS topic,
  kafka_partition::INT AS kafka_partition,
  kafka_offset::BIGINT AS kafka_offset,
  ingested_at::TIMESTAMP AS ingested_at
FROM first_copies
/* Keep the first copy: a duplicate arriving in a later run never replaces it. */
WHERE
  NOT event_key IN (
    SELECT
      event_key
    FROM @this_model
  )
