/* Consumer lag over time: how far the lake is behind Kafka, per topic and real-time minute. */
MODEL (
  name ops.consumer_lag,
  /* Samples are stamped in real time, so windows are real time too. A partial hour is
     rebuilt whole on the next run, so each minute's figures take every sample of it. */
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column minute
  ),
  allow_partials TRUE,
  interval_unit 'hour',
  grain (minute, group_id, topic),
  description 'The sink group''s consumer lag per real-time (wall-clock) minute and topic, from the samples the sink process takes every sink.lag_sample_s seconds: messages on Kafka not yet landed in the lake. A minute without a sample (no sink running) has no row.',
  column_descriptions (
    minute = 'Real (wall-clock) UTC minute the samples were taken in.',
    group_id = 'Kafka consumer group of the sink.',
    topic = 'Event topic.',
    lag_max = 'Highest lag sampled within the minute, in messages not yet committed by the group.',
    lag_mean = 'Mean lag sampled within the minute, in messages.',
    samples = 'Number of samples taken within the minute (several sinks of one group each sample).'
  )
);

SELECT
  DATE_TRUNC('minute', sampled_at)::TIMESTAMP AS minute,
  group_id::TEXT AS group_id,
  topic::TEXT AS topic,
  MAX(lag_messages)::BIGINT AS lag_max,
  AVG(lag_messages)::DOUBLE AS lag_mean,
  COUNT(*)::INT AS samples
FROM lake.consumer_lag
WHERE
  /* The day filter lets DuckDB skip other days' folders unopened. */
  ingest_date BETWEEN @start_ds::DATE AND @end_ds::DATE
  AND sampled_at BETWEEN @start_ts::TIMESTAMP AND @end_ts::TIMESTAMP
GROUP BY
  1,
  2,
  3
