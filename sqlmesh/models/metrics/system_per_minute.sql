/* The system at a glance, minute by minute: users, plays, streams, servers, scaling, volume. */
MODEL (
  name metrics.system_per_minute,
  /* Windows follow ingestion. A window touches, per run, the minutes from the earliest minute
     of its counted events to the latest minute known for the run (@minute_ranges); those are
     rebuilt whole from the core models (only rows overlapping them are read) and upserted. */
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key (run_id, minute)
  ),
  allow_partials TRUE,
  interval_unit 'hour',
  grain (run_id, minute),
  description 'System metrics per run and site-time minute. Instant counts (active users, concurrent plays and streams, servers) are taken at the minute''s start; the others count what happened within the minute. Definitions: docs/metrics.md.',
  column_descriptions (
    run_id = 'Simulation run.',
    minute = 'Site-time minute (UTC).',
    active_users = 'Sessions open at the minute''s start: started_at <= minute < closed_at (the end, or session_timeout_s after the last event when no end was counted).',
    sessions_started = 'Sessions that started within the minute.',
    concurrent_plays = 'Plays in progress at the minute''s start: first frame shown, view not yet closed (paused plays count; see core.video_views.closed_at).',
    plays_started = 'Plays whose first frame came within the minute.',
    concurrent_streams = 'Streams the servers held at the minute''s start (server side).',
    servers_alive = 'Servers alive at the minute''s start (core.server_utilisation).',
    servers_serving = 'Servers alive and not draining at the minute''s start.',
    utilisation_mean = 'Mean sampled server utilisation within the minute.',
    scaling_decisions = 'Autoscaler rounds within the minute.',
    scale_ups = 'Rounds that grew the group.',
    scale_downs = 'Rounds that shrank the group.',
    events_per_second = 'Events with a valid envelope emitted within the minute, per second (all types; by type: metrics.events_per_minute).'
  )
);

WITH ranges AS (
  @minute_ranges(('user', 'server'), @start_ts, @end_ts, @this_model)
), minutes AS (
  SELECT
    run_id,
    UNNEST(GENERATE_SERIES(first_minute, last_minute, INTERVAL 1 MINUTE)) AS minute
  FROM ranges
/* Each run's sessions, views and streams that overlap its range of minutes, before they meet
   the minutes one by one: every row of a run shares its run_id, so the per-minute joins
   below would otherwise compare each minute with the whole run so far. Each filter is
   implied by the join it feeds, so no count changes. */
), range_sessions AS (
  SELECT
    s.*
  FROM core.sessions AS s
  JOIN ranges AS r
    ON s.run_id = r.run_id
    AND s.started_at < r.last_minute + INTERVAL 1 MINUTE
    AND s.closed_at > r.first_minute
), range_views AS (
  SELECT
    v.*
  FROM core.video_views AS v
  JOIN ranges AS r
    ON v.run_id = r.run_id
    AND v.started
    AND v.started_at < r.last_minute + INTERVAL 1 MINUTE
    AND v.closed_at > r.first_minute
), range_streams AS (
  SELECT
    s.*
  FROM core.streams AS s
  JOIN ranges AS r
    ON s.run_id = r.run_id
    AND s.started_at <= r.last_minute
    AND (
      s.stopped_at IS NULL OR s.stopped_at > r.first_minute
    )
), users AS (
  SELECT
    m.run_id,
    m.minute,
    COUNT(*) FILTER (WHERE s.started_at <= m.minute AND s.closed_at > m.minute) AS active_users,
    COUNT(*) FILTER (WHERE DATE_TRUNC('minute', s.started_at) = m.minute) AS sessions_started
  FROM minutes AS m
  JOIN range_sessions AS s
    ON s.run_id = m.run_id
    AND s.started_at < m.minute + INTERVAL 1 MINUTE
    AND s.closed_at > m.minute
  GROUP BY
    1,
    2
), plays AS (
  SELECT
    m.run_id,
    m.minute,
    COUNT(*) FILTER (WHERE v.started_at <= m.minute AND v.closed_at > m.minute) AS concurrent_plays,
    COUNT(*) FILTER (WHERE DATE_TRUNC('minute', v.started_at) = m.minute) AS plays_started
  FROM minutes AS m
  JOIN range_views AS v
    ON v.run_id = m.run_id
    AND v.started
    AND v.started_at < m.minute + INTERVAL 1 MINUTE
    AND v.closed_at > m.minute
  GROUP BY
    1,
    2
), streams AS (
  SELECT
    m.run_id,
    m.minute,
    COUNT(*) AS concurrent_streams
  FROM minutes AS m
  JOIN range_streams AS s
    ON s.run_id = m.run_id
    AND s.started_at <= m.minute
    AND (
      s.stopped_at IS NULL OR s.stopped_at > m.minute
    )
  GROUP BY
    1,
    2
), scaling AS (
  SELECT
    m.run_id,
    m.minute,
    COUNT(*) AS scaling_decisions,
    COUNT(*) FILTER (WHERE d.change > 0) AS scale_ups,
    COUNT(*) FILTER (WHERE d.change < 0) AS scale_downs
  FROM minutes AS m
  JOIN core.scaling_decisions AS d
    ON d.run_id = m.run_id AND DATE_TRUNC('minute', d.decided_at) = m.minute
  GROUP BY
    1,
    2
), volume AS (
  SELECT
    e.run_id,
    DATE_TRUNC('minute', e.emitted_at) AS minute,
    COUNT(*) AS events
  FROM staging.events AS e
  JOIN ranges AS r
    ON e.run_id = r.run_id
    AND e.emitted_at >= r.first_minute
    AND e.emitted_at < r.last_minute + INTERVAL 1 MINUTE
  WHERE
    e.envelope_valid
  GROUP BY
    1,
    2
)
SELECT
  m.run_id::TEXT AS run_id,
  m.minute::TIMESTAMP AS minute,
  COALESCE(u.active_users, 0)::INT AS active_users,
  COALESCE(u.sessions_started, 0)::INT AS sessions_started,
  COALESCE(p.concurrent_plays, 0)::INT AS concurrent_plays,
  COALESCE(p.plays_started, 0)::INT AS plays_started,
  COALESCE(s.concurrent_streams, 0)::INT AS concurrent_streams,
  COALESCE(su.servers_alive, 0)::INT AS servers_alive,
  COALESCE(su.servers_serving, 0)::INT AS servers_serving,
  su.utilisation_mean::DOUBLE AS utilisation_mean,
  COALESCE(d.scaling_decisions, 0)::INT AS scaling_decisions,
  COALESCE(d.scale_ups, 0)::INT AS scale_ups,
  COALESCE(d.scale_downs, 0)::INT AS scale_downs,
  ROUND(COALESCE(vol.events, 0) / 60.0, 3)::DOUBLE AS events_per_second
FROM minutes AS m
LEFT JOIN users AS u
  ON m.run_id = u.run_id AND m.minute = u.minute
LEFT JOIN plays AS p
  ON m.run_id = p.run_id AND m.minute = p.minute
LEFT JOIN streams AS s
  ON m.run_id = s.run_id AND m.minute = s.minute
LEFT JOIN core.server_utilisation AS su
  ON m.run_id = su.run_id AND m.minute = su.minute
LEFT JOIN scaling AS d
  ON m.run_id = d.run_id AND m.minute = d.minute
LEFT JOIN volume AS vol
  ON m.run_id = vol.run_id AND m.minute = vol.minute
