/* What the sink could not read, per site minute: the quarantine panel of the quality dashboard. */
MODEL (
  name quality.quarantine,
  kind FULL,
  allow_partials TRUE,
  grain (run_id, minute, topic, reason),
  description 'Quarantined messages per run, site-time minute of arrival, topic and reason, with their bytes; a clean run has no row. Minutes are those quality.compliance counts the same messages in (the run''s site clock from quality.event_checks), so the two sit on one time axis. FULL, rebuilt from quality.quarantined_messages.',
  column_descriptions (
    run_id = 'The run whose site clock placed the messages (NULL when no run clock was known).',
    minute = 'Site-time minute (UTC) of arrival, on the run''s clock: the messages carry no readable time of their own.',
    topic = 'Kafka topic they came from.',
    reason = 'Why the sink quarantined them: no_value, not_utf8, not_json, not_object, not_unicode.',
    messages = 'Quarantined messages (the sink''s re-reads of the same offset counted once).',
    bytes = 'Their total size in bytes (each message once).',
    first_ingested_at = 'Real UTC time at which the sink wrote the first of them.',
    last_ingested_at = 'Real UTC time at which the sink wrote the last of them.'
  )
);

WITH messages AS (
  /* The sink may write a message twice (at-least-once); its offset names it. */
  SELECT
    topic,
    kafka_partition,
    kafka_offset,
    ANY_VALUE(reason) AS reason,
    ANY_VALUE(OCTET_LENGTH(raw)) AS bytes,
    MIN(ingested_at) AS ingested_at
  FROM quality.quarantined_messages
  GROUP BY
    1,
    2,
    3
)
SELECT
  c.run_id::TEXT AS run_id,
  c.site_minute::TIMESTAMP AS minute,
  m.topic::TEXT AS topic,
  m.reason::TEXT AS reason,
  COUNT(*)::BIGINT AS messages,
  SUM(m.bytes)::BIGINT AS bytes,
  MIN(m.ingested_at)::TIMESTAMP AS first_ingested_at,
  MAX(m.ingested_at)::TIMESTAMP AS last_ingested_at
FROM messages AS m
LEFT JOIN quality.event_checks AS c
  ON m.topic = c.topic AND m.kafka_partition = c.kafka_partition AND m.kafka_offset = c.kafka_offset
GROUP BY
  1,
  2,
  3,
  4
