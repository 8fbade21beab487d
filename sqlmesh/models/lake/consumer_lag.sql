/* The sink group's lag samples as one relation: a view, so every query sees the files present now. */
MODEL (
  name lake.consumer_lag,
  kind VIEW,
  description 'Every consumer-lag sample the sink process has landed in lake/consumer_lag, read in place: one row per sample and topic.',
  column_descriptions (
    sampled_at = 'Real (wall-clock) UTC time the lag was measured.',
    group_id = 'Kafka consumer group of the sink.',
    topic = 'Event topic the lag is of.',
    lag_messages = 'Messages on the topic the group had not yet committed when sampled.',
    ingest_date = 'UTC day of the sample, from the file''s folder.'
  )
);

SELECT
  /* Naive UTC, so comparisons with SQLMesh's window bounds never depend on a time zone. */
  TIMEZONE('UTC', sampled_at)::TIMESTAMP AS sampled_at,
  group_id::TEXT AS group_id,
  topic::TEXT AS topic,
  lag_messages::BIGINT AS lag_messages,
  ingest_date::DATE AS ingest_date
FROM READ_PARQUET(@VAR('lag_glob'), hive_partitioning = TRUE, union_by_name = TRUE)
