-- Where do viewers wait longest for the first frame?
-- Video start time of plays by country and device, and how many viewers gave up waiting.
SELECT
  country,
  device,
  COUNT(*) FILTER (WHERE started) AS plays,
  ROUND(MEDIAN(video_start_time_ms), 0) AS start_time_ms_p50,
  ROUND(QUANTILE_CONT(video_start_time_ms, 0.9), 0) AS start_time_ms_p90,
  COUNT(*) FILTER (WHERE exited_before_start) AS exits_before_start
FROM core.video_views
GROUP BY country, device
ORDER BY start_time_ms_p90 DESC NULLS LAST
