/* The product's numbers per hour, country and device: what a product person charts first. */
MODEL (
  name metrics.product_by_hour,
  /* Windows follow ingestion. The hours (of session start, and of video opening) of the core
     rows that changed in the window are rebuilt whole from the core models and upserted. */
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key (hour, country, device)
  ),
  allow_partials TRUE,
  interval_unit 'hour',
  grain (hour, country, device),
  description 'Product metrics per site-time hour, country and device: sessions by the hour they started, views and plays by the hour the video was opened. Both numerators and denominators are given, so rates can be re-aggregated. Definitions: docs/metrics.md.',
  column_descriptions (
    hour = 'Site-time hour (UTC).',
    country = 'The users'' country (unknown when session_started was not seen or its country is not an accepted value).',
    device = 'The users'' device (unknown when session_started was not seen or its device is not an accepted value).',
    sessions = 'Sessions that started in the hour.',
    sessions_ended = 'Of those, sessions whose end was counted.',
    session_length_s_total = 'Summed length of the sessions whose end was counted, in seconds.',
    session_length_s_mean = 'Mean session length of the ended sessions, in seconds.',
    play_attempts = 'Views in which the viewer waited for a first frame and either got it or left: plays plus exits before video start.',
    plays = 'Views whose first frame played.',
    exits_before_start = 'Views left before the first frame.',
    exit_before_start_rate = 'exits_before_start over play_attempts.',
    completed_plays = 'Plays that reached the end of the video.',
    completion_rate = 'completed_plays over plays.',
    watch_time_s = 'Seconds of video played.',
    watch_time_s_per_play = 'watch_time_s over plays.',
    pauses = 'Pauses during plays.',
    seeks = 'Seeks during plays.',
    video_start_time_ms_mean = 'Mean video start time of the plays, in milliseconds.',
    video_start_time_ms_p50 = 'Median video start time, in milliseconds.',
    video_start_time_ms_p90 = '90th percentile of video start time, in milliseconds.'
  )
);

WITH touched_hours AS (
  SELECT
    DATE_TRUNC('hour', started_at) AS hour
  FROM core.sessions
  WHERE
    last_ingested_at BETWEEN @arrivals_from(@start_ts, 'fresh', @this_model)
    AND @end_ts::TIMESTAMP
  UNION
  SELECT
    DATE_TRUNC('hour', opened_at) AS hour
  FROM core.video_views
  WHERE
    last_ingested_at BETWEEN @arrivals_from(@start_ts, 'fresh', @this_model)
    AND @end_ts::TIMESTAMP
), sessions AS (
  SELECT
    DATE_TRUNC('hour', started_at) AS hour,
    COALESCE(country, 'unknown') AS country,
    COALESCE(device, 'unknown') AS device,
    COUNT(*) AS sessions,
    COUNT(ended_at) AS sessions_ended,
    SUM(length_s) AS session_length_s_total
  FROM core.sessions
  /* The first condition lets DuckDB skip blocks of older rows. */
  WHERE
    started_at >= (SELECT MIN(hour) FROM touched_hours)
    AND DATE_TRUNC('hour', started_at) IN (SELECT hour FROM touched_hours)
  GROUP BY
    1,
    2,
    3
), views AS (
  SELECT
    DATE_TRUNC('hour', opened_at) AS hour,
    COALESCE(country, 'unknown') AS country,
    COALESCE(device, 'unknown') AS device,
    COUNT(*) FILTER (WHERE started OR exited_before_start) AS play_attempts,
    COUNT(*) FILTER (WHERE started) AS plays,
    COUNT(*) FILTER (WHERE exited_before_start) AS exits_before_start,
    COUNT(*) FILTER (WHERE completed) AS completed_plays,
    SUM(watch_time_s) AS watch_time_s,
    SUM(pauses) AS pauses,
    SUM(seeks) AS seeks,
    AVG(video_start_time_ms) AS vst_mean,
    QUANTILE_CONT(video_start_time_ms, 0.5) AS vst_p50,
    QUANTILE_CONT(video_start_time_ms, 0.9) AS vst_p90
  FROM core.video_views
  WHERE
    opened_at >= (SELECT MIN(hour) FROM touched_hours)
    AND DATE_TRUNC('hour', opened_at) IN (SELECT hour FROM touched_hours)
  GROUP BY
    1,
    2,
    3
)
SELECT
  COALESCE(s.hour, v.hour)::TIMESTAMP AS hour,
  COALESCE(s.country, v.country)::TEXT AS country,
  COALESCE(s.device, v.device)::TEXT AS device,
  COALESCE(s.sessions, 0)::INT AS sessions,
  COALESCE(s.sessions_ended, 0)::INT AS sessions_ended,
  ROUND(COALESCE(s.session_length_s_total, 0), 3)::DOUBLE AS session_length_s_total,
  ROUND(s.session_length_s_total / NULLIF(s.sessions_ended, 0), 3)::DOUBLE AS session_length_s_mean,
  COALESCE(v.play_attempts, 0)::INT AS play_attempts,
  COALESCE(v.plays, 0)::INT AS plays,
  COALESCE(v.exits_before_start, 0)::INT AS exits_before_start,
  ROUND(v.exits_before_start / NULLIF(v.play_attempts, 0), 4)::DOUBLE AS exit_before_start_rate,
  COALESCE(v.completed_plays, 0)::INT AS completed_plays,
  ROUND(v.completed_plays / NULLIF(v.plays, 0), 4)::DOUBLE AS completion_rate,
  ROUND(COALESCE(v.watch_time_s, 0), 3)::DOUBLE AS watch_time_s,
  ROUND(v.watch_time_s / NULLIF(v.plays, 0), 3)::DOUBLE AS watch_time_s_per_play,
  COALESCE(v.pauses, 0)::INT AS pauses,
  COALESCE(v.seeks, 0)::INT AS seeks,
  ROUND(v.vst_mean, 1)::DOUBLE AS video_start_time_ms_mean,
  v.vst_p50::DOUBLE AS video_start_time_ms_p50,
  v.vst_p90::DOUBLE AS video_start_time_ms_p90
FROM sessions AS s
FULL OUTER JOIN views AS v
  ON s.hour = v.hour AND s.country = v.country AND s.device = v.device
