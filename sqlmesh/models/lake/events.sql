/* The lake's event files as one relation: a view, so every query sees the files present now. */
MODEL (
  name lake.events,
  kind VIEW,
  description 'Every event file the sink has written, read in place from the lake; envelope fields are text exactly as sent, typing is staging''s job.',
  column_descriptions (
    event_id = 'Identifier the emitter gave the event, as sent.',
    event_type = 'Event type, as sent.',
    schema_version = 'Envelope schema version, as sent.',
    emitted_at = 'Site time of emission, ISO 8601 UTC text as sent.',
    source = 'Emitter kind (user, server, orchestrator), as sent.',
    run_id = 'Simulation run that emitted the event, as sent.',
    user_id = 'Simulated user, as sent.',
    session_id = 'Browser session, as sent.',
    body = 'The whole event as the JSON text received, including type-specific fields.',
    topic = 'Kafka topic the sink read the event from.',
    kafka_partition = 'Kafka partition the event was read from.',
    kafka_offset = 'Offset of the event in its Kafka partition.',
    kafka_key = 'Kafka key of the message as text (the session for user events); NULL in files written before the sink kept it, or when not UTF-8.',
    ingested_at = 'Real (wall-clock) UTC time at which the sink wrote the row.',
    lake_file = 'Path of the Parquet file holding the row.',
    file_written_at = 'Real UTC time the file was written, from its name (to the millisecond); never earlier than its rows'' ingested_at, so a filter on it skips whole files unread; NULL when the name does not start with a time.'
  )
);

SELECT
  event_id::TEXT AS event_id,
  event_type::TEXT AS event_type,
  schema_version::TEXT AS schema_version,
  emitted_at::TEXT AS emitted_at,
  source::TEXT AS source,
  run_id::TEXT AS run_id,
  user_id::TEXT AS user_id,
  session_id::TEXT AS session_id,
  body::TEXT AS body,
  topic::TEXT AS topic,
  kafka_partition::INT AS kafka_partition,
  kafka_offset::BIGINT AS kafka_offset,
  kafka_key::TEXT AS kafka_key,
  /* Naive UTC, so comparisons with SQLMesh's window bounds never depend on a time zone. */
  TIMEZONE('UTC', ingested_at)::TIMESTAMP AS ingested_at,
  filename::TEXT AS lake_file,
  /* To the millisecond, as the sink names files: cut to the second, a file written in the
     second its first row arrived would read as older than that row, and a window beginning
     at that row would skip the file. */
  TRY_STRPTIME(LEFT(PARSE_FILENAME(filename), 18), '%Y%m%dT%H%M%S%g')::TIMESTAMP AS file_written_at
FROM READ_PARQUET(@VAR('lake_glob'), hive_partitioning = TRUE, union_by_name = TRUE, filename = TRUE)
