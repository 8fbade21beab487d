/* One row per browser session: who, where from, how long, and what they watched. */
MODEL (
  name core.sessions,
  /* Windows follow ingestion. Each run rebuilds every session that received events in the
     window, from all of its events within the lookback and all of its views, and upserts it:
     late events correct it, re-runs change nothing. A session is rebuilt only while its
     session_started is within the lookback (var session_lookback_hours, real hours). */
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key (run_id, session_id)
  ),
  allow_partials TRUE,
  interval_unit 'hour',
  grain (run_id, session_id),
  description 'One row per browser session that started (session_started seen): the user, traits, start and end, length, pages, videos opened, plays, exits before video start, watch time, pauses and seeks. Built from staging rows whose envelope is valid and from core.video_views; a trait the accepted_values expectation rejects is unknown. See docs/metrics.md.',
  column_descriptions (
    run_id = 'Simulation run.',
    session_id = 'Browser session.',
    user_id = 'Simulated user.',
    country = 'The user''s country; unknown when the value sent is not an accepted one (reference.event_fields).',
    device = 'The user''s device: mobile, desktop, tv or tablet; unknown for any other value.',
    browser = 'The user''s browser; unknown for a value not accepted.',
    connection = 'The user''s connection; unknown for a value not accepted.',
    started_at = 'Site time the user opened the site (session_started).',
    ended_at = 'Site time the user closed the browser (session_ended); NULL while open or when that event was not counted.',
    last_event_at = 'Site time of the session''s last counted event.',
    closed_at = 'Site time the session stops counting as active: ended_at, else last_event_at plus session_timeout_s (variable, site seconds), so a session whose end was lost is not active for ever.',
    length_s = 'Session length: seconds from start to end; NULL while open or when the end was not counted.',
    page_views = 'Pages shown.',
    videos_opened = 'Videos opened (views).',
    plays = 'Views whose first frame played.',
    exits_before_start = 'Views left before the first frame.',
    completed_plays = 'Plays that reached the end of the video.',
    watch_time_s = 'Seconds of video played, summed over the session''s views.',
    pauses = 'Pauses over the session''s plays.',
    seeks = 'Seeks over the session''s plays.',
    last_ingested_at = 'Latest ingestion time among the session''s events: what the marts window on.'
  )
);

WITH touched AS (
  SELECT DISTINCT
    run_id,
    session_id
  FROM staging.events
  WHERE
    ingested_at BETWEEN @arrivals_from(@start_ts, 'fresh', @this_model)
    AND @end_ts::TIMESTAMP
    AND envelope_valid
    AND source = 'user'
), session_events AS (
  SELECT
    e.*
  FROM staging.events AS e
  SEMI JOIN touched AS t
    ON e.run_id = t.run_id AND e.session_id = t.session_id
  WHERE
    e.envelope_valid
    AND e.source = 'user'
    AND e.ingested_at >= @start_ts::TIMESTAMP - INTERVAL (@VAR('session_lookback_hours', 24)) HOUR
), sessions AS (
  SELECT
    run_id,
    session_id,
    ANY_VALUE(user_id) AS user_id,
    ARG_MIN(country, emitted_at) FILTER (WHERE event_type = 'session_started') AS country,
    ARG_MIN(device, emitted_at) FILTER (WHERE event_type = 'session_started') AS device,
    ARG_MIN(browser, emitted_at) FILTER (WHERE event_type = 'session_started') AS browser,
    ARG_MIN(connection, emitted_at) FILTER (WHERE event_type = 'session_started') AS connection,
    MIN(emitted_at) FILTER (WHERE event_type = 'session_started') AS started_at,
    MIN(emitted_at) FILTER (WHERE event_type = 'session_ended') AS ended_at,
    MAX(emitted_at) AS last_event_at,
    COUNT(*) FILTER (WHERE event_type = 'page_viewed') AS page_views,
    MAX(ingested_at) AS last_ingested_at
  FROM session_events
  GROUP BY
    1,
    2
  HAVING
    NOT MIN(emitted_at) FILTER (WHERE event_type = 'session_started') IS NULL
), views AS (
  SELECT
    v.run_id,
    v.session_id,
    COUNT(*) AS videos_opened,
    COUNT(*) FILTER (WHERE v.started) AS plays,
    COUNT(*) FILTER (WHERE v.exited_before_start) AS exits_before_start,
    COUNT(*) FILTER (WHERE v.completed) AS completed_plays,
    SUM(v.watch_time_s) AS watch_time_s,
    SUM(v.pauses) AS pauses,
    SUM(v.seeks) AS seeks
  FROM core.video_views AS v
  SEMI JOIN touched AS t
    ON v.run_id = t.run_id AND v.session_id = t.session_id
  GROUP BY
    1,
    2
)
SELECT
  s.run_id::TEXT AS run_id,
  s.session_id::TEXT AS session_id,
  s.user_id::TEXT AS user_id,
  @accepted_or_unknown('session_started', 'country', s.country)::TEXT AS country,
  @accepted_or_unknown('session_started', 'device', s.device)::TEXT AS device,
  @accepted_or_unknown('session_started', 'browser', s.browser)::TEXT AS browser,
  @accepted_or_unknown('session_started', 'connection', s.connection)::TEXT AS connection,
  s.started_at::TIMESTAMP AS started_at,
  s.ended_at::TIMESTAMP AS ended_at,
  s.last_event_at::TIMESTAMP AS last_event_at,
  COALESCE(
    s.ended_at,
    s.last_event_at + INTERVAL (@VAR('session_timeout_s', 120)) SECOND
  )::TIMESTAMP AS closed_at,
  ROUND(EPOCH(s.ended_at) - EPOCH(s.started_at), 3)::DOUBLE AS length_s,
  s.page_views::INT AS page_views,
  COALESCE(v.videos_opened, 0)::INT AS videos_opened,
  COALESCE(v.plays, 0)::INT AS plays,
  COALESCE(v.exits_before_start, 0)::INT AS exits_before_start,
  COALESCE(v.completed_plays, 0)::INT AS completed_plays,
  ROUND(COALESCE(v.watch_time_s, 0), 3)::DOUBLE AS watch_time_s,
  COALESCE(v.pauses, 0)::INT AS pauses,
  COALESCE(v.seeks, 0)::INT AS seeks,
  s.last_ingested_at::TIMESTAMP AS last_ingested_at
FROM sessions AS s
LEFT JOIN views AS v
  ON s.run_id = v.run_id AND s.session_id = v.session_id
