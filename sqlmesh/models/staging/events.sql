/* Typed, deduplicated events: the one row per event that every metric and check reads. */
MODEL (
  name staging.events,
  /* Append-only: the query keeps just the events whose key the table does not hold yet (the
     anti-join at the end), so SQLMesh can insert them straight into the table. A unique-key
     merge wrote every new row twice, into a temporary table and then into this one: 3.0 of
     7.5 s per million events. Not forward-only: a changed model is rebuilt from the lake. */
  kind INCREMENTAL_UNMANAGED (
    forward_only FALSE
  ),
  /* Windows follow ingestion (real time), not emitted_at (site time, which runs ahead of the
     wall clock when the simulation is sped up). Partial intervals let every run load up to
     now, so new lake files become queryable on the next run rather than the next day.
     SQLMesh hands a run the partial interval from its start, but the window reads only from
     the earliest arrival in the files new since the last run (@arrivals_from). */
  allow_partials TRUE,
  interval_unit 'hour',
  grain event_key,
  description 'One row per event: envelope fields typed (NULL where the text does not parse), the fields of every type extracted with their JSON type checked (a number sent as text is NULL here), duplicates from at-least-once delivery removed (the first copy ingested wins). Faulty events are kept, for the checks to count; envelope_valid says which rows the core models count.',
  column_descriptions (
    event_key = 'Deduplication key: event_id when present, else a key derived from the Kafka coordinates and body of the message, so events without an id are kept once each and stay countable.',
    event_id = 'Identifier the emitter gave the event; NULL when missing or blank.',
    event_type = 'Event type as sent; unknown values are kept for the checks to count.',
    schema_version = 'Envelope schema version; NULL when not an integer.',
    emitted_at = 'Site time of emission (UTC); NULL when not a valid ISO 8601 time.',
    source = 'Emitter kind as sent: user, server or orchestrator.',
    run_id = 'Simulation run that emitted the event.',
    user_id = 'Simulated user; NULL for server life and orchestrator events.',
    session_id = 'Browser session; NULL for server life and orchestrator events.',
    envelope_valid = 'TRUE when the envelope is fit to count (the rule core models filter on): the body is a JSON object; event_id a non-blank string; schema_version the JSON integer 1; emitted_at a string that reads as an ISO 8601 time and is timely; run_id a string; source one of user, server, orchestrator and event_type one of the types that source sends; for user events user_id and session_id non-blank strings. Body fields are not judged here (the quality checks do that).',
    video_id = 'Video the event is about (text).',
    position_s = 'Playback position in seconds, when sent as a JSON number.',
    from_s = 'playback_seeked, stream_seeked: position before the seek, in seconds.',
    to_s = 'playback_seeked: position after the seek, in seconds.',
    direction = 'playback_seeked: forward or back.',
    server_id = 'Streaming server (text).',
    stream_id = 'Stream on a server (text).',
    reason = 'Why a stream stopped, a start was abandoned, a server stopped or a scaling decision was taken.',
    restart_reason = 'playback_started: stream_lost when the stream restarted after its server died; NULL on a normal start.',
    video_start_time_ms = 'playback_started: milliseconds from asking for the stream to the first frame (site time).',
    waited_ms = 'playback_abandoned: milliseconds the viewer waited before giving up.',
    refusals = 'playback_abandoned: router answers with no room while the viewer waited.',
    via = 'video_opened: how the video was reached (open_video, next_video, recommended).',
    category = 'video_opened, page_viewed: the video or listing category.',
    next_action = 'video_skipped: the action that left the video (the body field next).',
    page = 'page_viewed: home, search or browse.',
    country = 'session_started: the user''s country.',
    device = 'session_started: the user''s device.',
    browser = 'session_started: the user''s browser.',
    connection = 'session_started: the user''s connection.',
    videos_watched = 'session_ended: videos whose playback started, as the user counted them.',
    capacity = 'server_started, server_utilisation, scaling_decided: streams one server holds at most.',
    streams = 'server_utilisation, server_draining, scaling_decided: streams playing (on the server, or on the serving servers).',
    utilisation = 'server_utilisation, scaling_decided: streams over capacity.',
    servers = 'scaling_decided: the group''s size before the decision.',
    desired_servers = 'scaling_decided: the size decided.',
    serving_servers = 'scaling_decided: servers taking new streams.',
    draining_servers = 'scaling_decided: servers draining.',
    target_utilisation = 'scaling_decided: the utilisation the autoscaler aims at.',
    streams_cut = 'server_stopped: streams the stop cut.',
    streams_lost = 'server_stopped by the group for a lost server: streams it took with it.',
    reported_by = 'stream_stopped, server_stopped: group when the group spoke for a lost server.',
    body = 'The whole event as the JSON text received, for fields not extracted here.',
    topic = 'Kafka topic the event was read from.',
    kafka_partition = 'Kafka partition the event was read from.',
    kafka_offset = 'Offset of the event in its Kafka partition.',
    ingested_at = 'Real UTC time at which the sink wrote the first copy of the event.',
    arrived_site_at = 'Site time (UTC) at which the event arrived: ingested_at read on the run''s clock (variables site_speed, site_origin_s); NULL when that clock is unknown (site_speed 0).',
    emitted_lead_s = 'Site seconds by which emitted_at is later than arrived_site_at: about minus the sink''s lag for a true clock, hours either way for a skewed one.',
    timely = 'TRUE when emitted_at is within timely_counted_s (1800) site seconds of arrived_site_at either way, or the run''s clock is unknown; FALSE when outside; NULL when emitted_at does not read. Part of envelope_valid, so skewed events never reach core models or marts.'
  )
);

WITH window_rows AS (
  SELECT
    *
  FROM lake.events
  /* The window begins at the earliest row of the lake files new since this group's last run
     (or at the interval's start less a grace period, without one: macros/windows.py); rows
     seen before are skipped below, which makes any overlap harmless. */
  WHERE
    ingested_at BETWEEN @arrivals_from(@start_ts, 'fresh', @this_model)
    AND @end_ts::TIMESTAMP
    /* Skips older files unopened: no row is ingested after its file is written. */
    AND (
      file_written_at IS NULL
      OR file_written_at >= @arrivals_from(@start_ts, 'fresh', @this_model)
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
    ingested_at,
    /* The run's clock is exact (every process of a run shares speed and origin), so the
       only gap between a true emitted_at and arrival is the sink's lag. */
    CASE
      WHEN @VAR('site_speed', 1.0) > 0
      THEN MAKE_TIMESTAMP(
        (
          (
            @VAR('site_origin_s', 0.0) + (EPOCH(ingested_at) - @VAR('site_origin_s', 0.0)) * @VAR('site_speed', 1.0)
          ) * 1000000
        )::BIGINT
      )
    END AS arrived_site_at
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
), judged AS (
  SELECT
    *,
    /* One parse of the body for every field read below, after duplicates are gone. */
    @body_fields(body_json) AS body_fields,
    ROUND(EPOCH(emitted_at) - EPOCH(arrived_site_at), 3) AS emitted_lead_s,
    CASE
      WHEN emitted_at IS NULL
      THEN NULL
      WHEN arrived_site_at IS NULL
      THEN TRUE
      ELSE ABS(EPOCH(emitted_at) - EPOCH(arrived_site_at)) <= @VAR('timely_counted_s', 1800)
    END AS timely
  FROM first_copies
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
  COALESCE(
    JSON_TYPE(body_json) = 'OBJECT'
    AND NOT event_id IS NULL
    AND @json_type(body_fields, event_id) = 'VARCHAR'
    AND @json_type(body_fields, schema_version) IN ('BIGINT', 'UBIGINT')
    AND schema_version = 1
    AND @json_type(body_fields, emitted_at) = 'VARCHAR'
    AND timely
    AND @json_type(body_fields, run_id) = 'VARCHAR'
    AND CASE source
      WHEN 'user'
      THEN event_type IN @event_types_of('user')
      AND @json_type(body_fields, user_id) = 'VARCHAR'
      AND @json_type(body_fields, session_id) = 'VARCHAR'
      AND TRIM(user_id) <> ''
      AND TRIM(session_id) <> ''
      WHEN 'server'
      THEN event_type IN @event_types_of('server')
      WHEN 'orchestrator'
      THEN event_type IN @event_types_of('orchestrator')
      ELSE FALSE
    END,
    FALSE
  )::BOOLEAN AS envelope_valid,
  @json_text(body_fields, video_id)::TEXT AS video_id,
  @json_number(body_fields, position_s)::DOUBLE AS position_s,
  @json_number(body_fields, from_s)::DOUBLE AS from_s,
  @json_number(body_fields, to_s)::DOUBLE AS to_s,
  @json_text(body_fields, direction)::TEXT AS direction,
  @json_text(body_fields, server_id)::TEXT AS server_id,
  @json_text(body_fields, stream_id)::TEXT AS stream_id,
  @json_text(body_fields, reason)::TEXT AS reason,
  @json_text(body_fields, restart_reason)::TEXT AS restart_reason,
  @json_number(body_fields, video_start_time_ms)::BIGINT AS video_start_time_ms,
  @json_number(body_fields, waited_ms)::BIGINT AS waited_ms,
  @json_number(body_fields, refusals)::INT AS refusals,
  @json_text(body_fields, via)::TEXT AS via,
  @json_text(body_fields, category)::TEXT AS category,
  @json_text(body_fields, next)::TEXT AS next_action,
  @json_text(body_fields, page)::TEXT AS page,
  @json_text(body_fields, country)::TEXT AS country,
  @json_text(body_fields, device)::TEXT AS device,
  @json_text(body_fields, browser)::TEXT AS browser,
  @json_text(body_fields, connection)::TEXT AS connection,
  @json_number(body_fields, videos_watched)::INT AS videos_watched,
  @json_number(body_fields, capacity)::INT AS capacity,
  @json_number(body_fields, streams)::INT AS streams,
  @json_number(body_fields, utilisation)::DOUBLE AS utilisation,
  @json_number(body_fields, servers)::INT AS servers,
  @json_number(body_fields, desired_servers)::INT AS desired_servers,
  @json_number(body_fields, serving_servers)::INT AS serving_servers,
  @json_number(body_fields, draining_servers)::INT AS draining_servers,
  @json_number(body_fields, target_utilisation)::DOUBLE AS target_utilisation,
  @json_number(body_fields, streams_cut)::INT AS streams_cut,
  @json_number(body_fields, streams_lost)::INT AS streams_lost,
  @json_text(body_fields, reported_by)::TEXT AS reported_by,
  body::TEXT AS body,
  topic::TEXT AS topic,
  kafka_partition::INT AS kafka_partition,
  kafka_offset::BIGINT AS kafka_offset,
  ingested_at::TIMESTAMP AS ingested_at,
  arrived_site_at::TIMESTAMP AS arrived_site_at,
  emitted_lead_s::DOUBLE AS emitted_lead_s,
  timely::BOOLEAN AS timely
FROM judged
/* Keep the first copy: a duplicate arriving in a later run never replaces it. */
WHERE
  NOT event_key IN (
    SELECT
      event_key
    FROM @this_model
  )
