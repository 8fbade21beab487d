/* What the sink could not read, per minute: the quarantine panel of the quality dashboard. */
MODEL (
  name quality.quarantine,
  kind FULL,
  allow_partials TRUE,
  grain (minute, topic, reason),
  description 'Quarantined messages per real (ingestion) minute, topic and reason, with their bytes; a clean run has no row. FULL, rebuilt from quality.quarantined_messages.',
  column_descriptions (
    minute = 'Real UTC minute at which the sink wrote the messages (they carry no readable site time).',
    topic = 'Kafka topic they came from.',
    reason = 'Why the sink quarantined them: no_value, not_utf8, not_json, not_object, not_unicode.',
    messages = 'Quarantined messages (the sink''s re-reads of the same offset counted once).',
    bytes = 'Their total size in bytes.'
  )
);

SELECT
  DATE_TRUNC('minute', ingested_at)::TIMESTAMP AS minute,
  topic::TEXT AS topic,
  reason::TEXT AS reason,
  COUNT(DISTINCT (kafka_partition, kafka_offset))::BIGINT AS messages,
  SUM(OCTET_LENGTH(raw))::BIGINT AS bytes
FROM quality.quarantined_messages
GROUP BY
  1,
  2,
  3
