/* Servers alive and how busy they were, minute by minute of site time. */
MODEL (
  name core.server_utilisation,
  /* Windows follow ingestion. A window touches, per run, the minutes from the earliest
     minute of its counted server events to the latest minute known for the run (a late stop
     changes every minute after it; @minute_ranges); those minutes are rebuilt whole and
     upserted. */
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key (run_id, minute)
  ),
  allow_partials TRUE,
  interval_unit 'hour',
  grain (run_id, minute),
  description 'One row per run and site-time minute from its first server event: servers alive at the minute''s start (core.servers), servers started and stopped within it, and the utilisation the servers sampled (server_utilisation events, envelope valid) during it.',
  column_descriptions (
    run_id = 'Simulation run.',
    minute = 'Site-time minute (UTC).',
    servers_alive = 'Servers alive at the minute''s start: started_at <= minute and not yet stopped.',
    servers_serving = 'Of those, servers not draining at the minute''s start.',
    capacity = 'Streams the alive servers hold at most, together.',
    servers_started = 'Servers that began serving within the minute.',
    servers_stopped = 'Servers that stopped within the minute.',
    utilisation_samples = 'server_utilisation samples taken within the minute (one per server every servers.heartbeat_s).',
    utilisation_mean = 'Mean of the sampled utilisation (streams over capacity of one server); NULL without samples.',
    utilisation_max = 'Highest sampled utilisation of any server within the minute.',
    streams_mean = 'Mean streams per sample: sampled streams over samples.'
  )
);

WITH ranges AS (
  @minute_ranges(('server'), @start_ts, @end_ts, @this_model)
), minutes AS (
  SELECT
    run_id,
    UNNEST(GENERATE_SERIES(first_minute, last_minute, INTERVAL 1 MINUTE)) AS minute
  FROM ranges
), alive AS (
  SELECT
    m.run_id,
    m.minute,
    COUNT(s.server_id) AS servers_alive,
    COUNT(s.server_id) FILTER (WHERE s.draining_at IS NULL OR s.draining_at > m.minute) AS servers_serving,
    COALESCE(SUM(s.capacity), 0) AS capacity
  FROM minutes AS m
  LEFT JOIN core.servers AS s
    ON s.run_id = m.run_id
    AND s.started_at <= m.minute
    AND (
      s.stopped_at IS NULL OR s.stopped_at > m.minute
    )
  GROUP BY
    1,
    2
), changes AS (
  SELECT
    m.run_id,
    m.minute,
    COUNT(*) FILTER (WHERE s.started_at >= m.minute AND s.started_at < m.minute + INTERVAL 1 MINUTE) AS servers_started,
    COUNT(*) FILTER (WHERE s.stopped_at >= m.minute AND s.stopped_at < m.minute + INTERVAL 1 MINUTE) AS servers_stopped
  FROM minutes AS m
  JOIN core.servers AS s
    ON s.run_id = m.run_id
  GROUP BY
    1,
    2
), samples AS (
  SELECT
    e.run_id,
    DATE_TRUNC('minute', e.emitted_at) AS minute,
    COUNT(*) AS utilisation_samples,
    AVG(e.utilisation) AS utilisation_mean,
    MAX(e.utilisation) AS utilisation_max,
    AVG(e.streams) AS streams_mean
  FROM staging.events AS e
  JOIN ranges AS r
    ON e.run_id = r.run_id
    AND e.emitted_at >= r.first_minute
    AND e.emitted_at < r.last_minute + INTERVAL 1 MINUTE
  WHERE
    e.envelope_valid AND e.event_type = 'server_utilisation'
  GROUP BY
    1,
    2
)
SELECT
  a.run_id::TEXT AS run_id,
  a.minute::TIMESTAMP AS minute,
  a.servers_alive::INT AS servers_alive,
  a.servers_serving::INT AS servers_serving,
  a.capacity::INT AS capacity,
  COALESCE(c.servers_started, 0)::INT AS servers_started,
  COALESCE(c.servers_stopped, 0)::INT AS servers_stopped,
  COALESCE(p.utilisation_samples, 0)::INT AS utilisation_samples,
  ROUND(p.utilisation_mean, 4)::DOUBLE AS utilisation_mean,
  p.utilisation_max::DOUBLE AS utilisation_max,
  ROUND(p.streams_mean, 3)::DOUBLE AS streams_mean
FROM alive AS a
LEFT JOIN changes AS c
  ON a.run_id = c.run_id AND a.minute = c.minute
LEFT JOIN samples AS p
  ON a.run_id = p.run_id AND a.minute = p.minute
