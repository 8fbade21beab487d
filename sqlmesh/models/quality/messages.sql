/* Every message that reached the lake, judged on its own: the base of quality.event_checks. */
MODEL (
  name quality.messages,
  /* Incremental by arrival: a run judges the messages that arrived in its window. Copy
     numbers and event_id ranks need every earlier message with the same bytes or id; the
     table itself is that kept index, so a run re-ranks only the groups its new messages
     join (the rows of a group re-ranked are merged back) and never rescans the lake. */
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key (topic, kafka_partition, kafka_offset)
  ),
  allow_partials TRUE,
  interval_unit 'hour',
  grain (topic, kafka_partition, kafka_offset),
  description 'One row per Kafka message in the lake (the sink''s own re-reads of a topic/partition/offset removed) and per quarantined message, with its identity and the expectations a message can pass or fail by itself. TRUE passes, FALSE fails, NULL does not apply.',
  column_descriptions (
    topic = 'Kafka topic of the message.',
    kafka_partition = 'Kafka partition of the message.',
    kafka_offset = 'Offset of the message in its partition.',
    kafka_key = 'The message''s Kafka key as the sink kept it; for lake files written before it kept keys of events, the session (or server, or source) the message names, as the producer keys it.',
    event_id = 'event_id as sent, when it is text.',
    event_key = 'event_id when present, else a key from the Kafka coordinates (as staging.events).',
    payload_md5 = 'Hex MD5 of the exact bytes received (the body, or the quarantined bytes).',
    copy = 'Number of this message among those with the same bytes, by partition and offset: 2 and up are re-sends.',
    event_type = 'event_type as sent; for a quarantined message the one its text still shows, if any.',
    source = 'source as sent.',
    run_id = 'run_id as sent.',
    user_id = 'user_id as sent.',
    session_id = 'session_id as sent; for a quarantined message its Kafka key.',
    emitted_at = 'emitted_at read in the wire format (ISO 8601 UTC, milliseconds, Z); NULL otherwise.',
    emitted_text = 'emitted_at as sent (for quarantined messages, as its text still shows).',
    video_id = 'video_id as sent, when text.',
    position_s = 'position_s when a JSON number.',
    from_s = 'from_s (seeks) when a JSON number.',
    to_s = 'to_s (seeks) when a JSON number.',
    stream_id = 'stream_id as sent, when text.',
    ingested_at = 'Real UTC time at which the sink wrote the message.',
    quarantine_reason = 'Why the sink quarantined the message; NULL for lake rows.',
    parseable = 'Expectation: the bytes are one UTF-8 JSON object (FALSE for quarantined messages).',
    schema_valid = 'Expectation: every documented field present has its JSON type, emitted_at is in the wire format, schema_version is 1.',
    required_fields = 'Expectation: every required field of the type (and of the envelope) is present and not null unless nullable.',
    accepted_values = 'Expectation: event_type is known, source is that type''s, every enum field holds a documented value.',
    valid_ranges = 'Expectation: positions >= 0 and, for users, at most the video''s duration + 1 s; counts and durations >= 0; NULL for types without such fields.',
    unique_event_id = 'Expectation: the first message with this event_id (and bytes); later copies fail.',
    known_video = 'Expectation: video_id is in reference.videos; NULL for types without video_id.',
    valid_alone = 'Every expectation above passes or does not apply: the message can be judged against its neighbours.'
  )
);

WITH lake_rows AS (
  SELECT
    *
  FROM lake.events AS l
  /* The window begins where staging's does, at the earliest row of the files new since the
     quality models last ran; messages judged before are skipped, so an overlap is harmless. */
  WHERE
    l.ingested_at BETWEEN @arrivals_from(@start_ts, 'quality', @this_model)
    AND @end_ts::TIMESTAMP
    AND (
      l.file_written_at IS NULL
      OR l.file_written_at >= @arrivals_from(@start_ts, 'quality', @this_model)
    )
    AND NOT EXISTS(
      SELECT
        1
      FROM @this_model AS m
      WHERE
        m.topic = l.topic
        AND m.kafka_partition = l.kafka_partition
        AND m.kafka_offset = l.kafka_offset
    )
  QUALIFY
    ROW_NUMBER() OVER (PARTITION BY topic, kafka_partition, kafka_offset ORDER BY ingested_at, lake_file) = 1
), quarantine_rows AS (
  SELECT
    *
  FROM quality.quarantined_messages AS q
  WHERE
    q.ingested_at BETWEEN @arrivals_from(@start_ts, 'quality', @this_model)
    AND @end_ts::TIMESTAMP
    AND NOT EXISTS(
      SELECT
        1
      FROM @this_model AS m
      WHERE
        m.topic = q.topic
        AND m.kafka_partition = q.kafka_partition
        AND m.kafka_offset = q.kafka_offset
    )
  QUALIFY
    ROW_NUMBER() OVER (PARTITION BY topic, kafka_partition, kafka_offset ORDER BY ingested_at) = 1
), parsed AS (
  SELECT
    topic,
    kafka_partition,
    kafka_offset,
    kafka_key AS lake_key,
    body,
    doc,
    MD5(body) AS payload_md5,
    ingested_at,
    is_object,
    CASE WHEN JSON_TYPE(doc, '$.event_type') = 'VARCHAR' THEN doc ->> '$.event_type' END AS event_type,
    CASE WHEN JSON_TYPE(doc, '$.event_id') = 'VARCHAR' THEN doc ->> '$.event_id' END AS event_id,
    CASE WHEN JSON_TYPE(doc, '$.source') = 'VARCHAR' THEN doc ->> '$.source' END AS source,
    CASE WHEN JSON_TYPE(doc, '$.run_id') = 'VARCHAR' THEN doc ->> '$.run_id' END AS run_id,
    CASE WHEN JSON_TYPE(doc, '$.user_id') = 'VARCHAR' THEN doc ->> '$.user_id' END AS user_id,
    CASE WHEN JSON_TYPE(doc, '$.session_id') = 'VARCHAR' THEN doc ->> '$.session_id' END AS session_id,
    CASE WHEN JSON_TYPE(doc, '$.emitted_at') = 'VARCHAR' THEN doc ->> '$.emitted_at' END AS emitted_text,
    CASE WHEN JSON_TYPE(doc, '$.video_id') = 'VARCHAR' THEN doc ->> '$.video_id' END AS video_id,
    CASE WHEN JSON_TYPE(doc, '$.stream_id') = 'VARCHAR' THEN doc ->> '$.stream_id' END AS stream_id,
    CASE WHEN JSON_TYPE(doc, '$.server_id') = 'VARCHAR' THEN doc ->> '$.server_id' END AS server_id,
    @number(doc, 'position_s') AS position_s,
    @number(doc, 'from_s') AS from_s,
    @number(doc, 'to_s') AS to_s,
    LEAST(
      @number(doc, 'video_start_time_ms'),
      @number(doc, 'waited_ms'),
      @number(doc, 'refusals'),
      @number(doc, 'videos_watched'),
      @number(doc, 'page_number') - 1
    ) AS least_count
  FROM (
    /* The sink lands only JSON objects; anything else is judged unparseable, not an error. */
    SELECT
      *,
      CASE WHEN is_object THEN body ELSE '{}' END AS doc
    FROM (
      SELECT
        *,
        COALESCE(CASE WHEN JSON_VALID(body) THEN JSON_TYPE(body) = 'OBJECT' END, FALSE) AS is_object
      FROM lake_rows
    )
  ) AS lake_rows
), spec_types AS (
  SELECT DISTINCT
    event_type
  FROM reference.event_fields
), typed AS (
  SELECT
    p.*,
    COALESCE(s.event_type, '*') AS spec_type,
    CASE
      WHEN REGEXP_FULL_MATCH(p.emitted_text, '\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z')
      THEN TIMEZONE('UTC', TRY_CAST(p.emitted_text AS TIMESTAMPTZ))::TIMESTAMP
    END AS emitted_at
  FROM parsed AS p
  LEFT JOIN spec_types AS s
    ON s.event_type = p.event_type
), field_values AS (
  SELECT
    t.topic,
    t.kafka_partition,
    t.kafka_offset,
    f.kind,
    f.required,
    f.nullable,
    f.accepted,
    JSON_TYPE(t.doc, f.path) AS json_type,
    JSON_EXTRACT_STRING(t.doc, f.path) AS text_value
  FROM typed AS t
  JOIN (
    SELECT
      *,
      '$.' || field AS path
    FROM reference.event_fields
  ) AS f
    ON f.event_type = t.spec_type
), field_verdicts AS (
  SELECT
    topic,
    kafka_partition,
    kafka_offset,
    BOOL_AND(
      CASE
        WHEN json_type IS NULL OR json_type = 'NULL' OR kind = 'any'
        THEN TRUE
        WHEN kind = 'string'
        THEN json_type = 'VARCHAR'
        WHEN kind = 'integer'
        THEN json_type IN ('BIGINT', 'UBIGINT')
        ELSE json_type IN ('BIGINT', 'UBIGINT', 'DOUBLE')
      END
    ) AS types_ok,
    BOOL_AND(NOT required OR (NOT json_type IS NULL AND (json_type <> 'NULL' OR nullable))) AS required_ok,
    BOOL_AND(
      accepted IS NULL OR json_type IS DISTINCT FROM 'VARCHAR' OR LIST_CONTAINS(accepted, text_value)
    ) AS accepted_ok
  FROM field_values
  GROUP BY
    1,
    2,
    3
), judged AS (
  SELECT
    t.*,
    v.types_ok
    AND (t.emitted_text IS NULL OR NOT t.emitted_at IS NULL)
    AND (
      COALESCE(JSON_TYPE(t.doc, '$.schema_version'), 'NULL') IN ('NULL', 'VARCHAR')
      OR (t.doc -> '$.schema_version')::TEXT = '1'
    ) AS schema_valid,
    v.required_ok AS required_fields,
    v.accepted_ok AND t.spec_type <> '*' AS accepted_values,
    CASE
      WHEN COALESCE(t.position_s, t.from_s, t.to_s, t.least_count) IS NULL
      THEN NULL
      ELSE COALESCE(LEAST(t.position_s, t.from_s, t.to_s, t.least_count) >= 0, TRUE)
      AND (
        t.source IS DISTINCT FROM 'user'
        OR r.duration_s IS NULL
        OR COALESCE(GREATEST(t.position_s, t.from_s, t.to_s) <= r.duration_s + 1, TRUE)
      )
    END AS valid_ranges,
    CASE
      WHEN NOT EXISTS(
        SELECT
          1
        FROM reference.event_fields AS f
        WHERE
          f.event_type = t.spec_type AND f.field = 'video_id'
      ) OR t.video_id IS NULL
      THEN NULL
      ELSE NOT r.video_id IS NULL
    END AS known_video
  FROM typed AS t
  JOIN field_verdicts AS v
    USING (topic, kafka_partition, kafka_offset)
  LEFT JOIN reference.videos AS r
    ON r.video_id = t.video_id
), messages AS (
  SELECT
    topic,
    kafka_partition,
    kafka_offset,
    COALESCE(lake_key, session_id, server_id, source) AS kafka_key,
    event_id,
    payload_md5,
    event_type,
    source,
    run_id,
    user_id,
    session_id,
    emitted_at,
    emitted_text,
    video_id,
    position_s,
    from_s,
    to_s,
    stream_id,
    ingested_at,
    NULL AS quarantine_reason,
    is_object AS parseable,
    schema_valid,
    required_fields,
    accepted_values,
    valid_ranges,
    known_video
  FROM judged
  UNION ALL
  SELECT
    topic,
    kafka_partition,
    kafka_offset,
    kafka_key,
    NULL AS event_id,
    raw_md5 AS payload_md5,
    REGEXP_EXTRACT(raw_text, '"event_type"\s*:\s*"([^"]*)"', 1) AS event_type,
    NULL AS source,
    NULL AS run_id,
    NULL AS user_id,
    kafka_key AS session_id,
    NULL AS emitted_at,
    REGEXP_EXTRACT(raw_text, '"emitted_at"\s*:\s*"([^"]*)"', 1) AS emitted_text,
    NULL AS video_id,
    NULL AS position_s,
    NULL AS from_s,
    NULL AS to_s,
    NULL AS stream_id,
    ingested_at,
    reason AS quarantine_reason,
    FALSE AS parseable,
    NULL AS schema_valid,
    NULL AS required_fields,
    NULL AS accepted_values,
    NULL AS valid_ranges,
    NULL AS known_video
  FROM quarantine_rows
), kept AS (
  /* Messages judged before that share bytes or an event_id with a new one: their copy
     numbers and ranks are worked out again together with the new messages'. The columns
     worked out below are left out here and matched to the new messages' by name. */
  SELECT
    * EXCLUDE (event_key, copy, unique_event_id, valid_alone)
  FROM @this_model AS m
  WHERE
    m.payload_md5 IN (
      SELECT
        payload_md5
      FROM messages
    )
    OR m.event_id IN (
      SELECT
        event_id
      FROM messages
      WHERE
        NOT event_id IS NULL
    )
), numbered AS (
  SELECT
    *,
    ROW_NUMBER() OVER (PARTITION BY payload_md5 ORDER BY kafka_partition, kafka_offset, topic) AS copy,
    ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY kafka_partition, kafka_offset, topic) AS id_rank
  FROM (
    SELECT
      *
    FROM messages
    UNION ALL BY NAME
    SELECT
      *
    FROM kept
  )
)
SELECT
  topic::TEXT AS topic,
  kafka_partition::INT AS kafka_partition,
  kafka_offset::BIGINT AS kafka_offset,
  NULLIF(kafka_key, '')::TEXT AS kafka_key,
  event_id::TEXT AS event_id,
  COALESCE(
    NULLIF(TRIM(event_id), ''),
    'no-id:' || MD5(CONCAT_WS('|', topic, kafka_partition, kafka_offset, payload_md5))
  )::TEXT AS event_key,
  payload_md5::TEXT AS payload_md5,
  copy::INT AS copy,
  NULLIF(event_type, '')::TEXT AS event_type,
  source::TEXT AS source,
  run_id::TEXT AS run_id,
  user_id::TEXT AS user_id,
  session_id::TEXT AS session_id,
  emitted_at::TIMESTAMP AS emitted_at,
  NULLIF(emitted_text, '')::TEXT AS emitted_text,
  video_id::TEXT AS video_id,
  position_s::DOUBLE AS position_s,
  from_s::DOUBLE AS from_s,
  to_s::DOUBLE AS to_s,
  stream_id::TEXT AS stream_id,
  ingested_at::TIMESTAMP AS ingested_at,
  quarantine_reason::TEXT AS quarantine_reason,
  parseable::BOOLEAN AS parseable,
  schema_valid::BOOLEAN AS schema_valid,
  required_fields::BOOLEAN AS required_fields,
  accepted_values::BOOLEAN AS accepted_values,
  valid_ranges::BOOLEAN AS valid_ranges,
  CASE
    WHEN copy > 1
    THEN FALSE
    WHEN event_id IS NULL
    THEN NULL
    ELSE id_rank = 1
  END::BOOLEAN AS unique_event_id,
  known_video::BOOLEAN AS known_video,
  (
    parseable
    AND COALESCE(schema_valid, TRUE)
    AND COALESCE(required_fields, TRUE)
    AND COALESCE(accepted_values, TRUE)
    AND COALESCE(valid_ranges, TRUE)
    AND copy = 1
    AND (event_id IS NULL OR id_rank = 1)
    AND COALESCE(known_video, TRUE)
  )::BOOLEAN AS valid_alone
FROM numbered
