/* What the simulated users broke on purpose, as they recorded it: the yardstick that scores
   the data-quality checks. No check may read it; only scoring does. */
MODEL (
  name truth.injected_faults,
  kind VIEW,
  description 'One row per fault the simulated users injected (docs/faults.md), read in place from the truth files the sink lands apart from the events; the sink''s re-reads of a record are removed. For scoring the data-quality checks only: the checks never read it.',
  column_descriptions (
    fault_id = 'Identifier of the fault record (UUID 4).',
    run_id = 'Simulation run whose user injected the fault.',
    kind = 'Fault kind, one of the catalogue in docs/faults.md (missing_field, not_json, ...).',
    user_id = 'Simulated user that sent the faulty message.',
    session_id = 'The real browser session of that user, even when the message named another.',
    event_id = 'The event''s id before the fault (NULL when the event had none).',
    event_type = 'The event''s type before the fault.',
    emitted_at = 'Site time (UTC) the event was made at, before any clock skew.',
    payload_md5 = 'Hex md5 of the exact bytes sent for the faulty message; NULL for missing_heartbeat, which sends nothing.',
    "copy" = 'Which copy of those bytes the fault is: 2 for the second send of duplicate_send, else 1. Lake messages with the same md5 are numbered by Kafka partition and offset.',
    detail = 'What the fault touched: the field, the value, the skew in hours, the cut.',
    recorded_at = 'Site time (UTC) the fault was recorded.',
    topic = 'Kafka topic the record was read from (streamsim.fault-truth).',
    kafka_partition = 'Kafka partition the record was read from.',
    kafka_offset = 'Offset of the record in its Kafka partition.',
    ingested_at = 'Real UTC time at which the sink wrote the record first.'
  )
);

SELECT
  fault_id::TEXT AS fault_id,
  run_id::TEXT AS run_id,
  kind::TEXT AS kind,
  user_id::TEXT AS user_id,
  session_id::TEXT AS session_id,
  event_id::TEXT AS event_id,
  event_type::TEXT AS event_type,
  TIMEZONE('UTC', TRY_CAST(emitted_at AS TIMESTAMPTZ))::TIMESTAMP AS emitted_at,
  payload_md5::TEXT AS payload_md5,
  TRY_CAST("copy" AS INT) AS "copy",
  detail::TEXT AS detail,
  TIMEZONE('UTC', TRY_CAST(recorded_at AS TIMESTAMPTZ))::TIMESTAMP AS recorded_at,
  topic::TEXT AS topic,
  kafka_partition::INT AS kafka_partition,
  kafka_offset::BIGINT AS kafka_offset,
  TIMEZONE('UTC', ingested_at)::TIMESTAMP AS ingested_at
FROM READ_PARQUET(@VAR('truth_glob'), union_by_name = TRUE)
/* The sink reads a record again after a crash: keep the copy it wrote first. */
QUALIFY
  ROW_NUMBER() OVER (PARTITION BY topic, kafka_partition, kafka_offset ORDER BY ingested_at) = 1
