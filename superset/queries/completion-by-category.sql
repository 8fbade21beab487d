-- Which categories do viewers finish, and which do they skip?
-- Completion rate and watch time per play for each video category.
SELECT
  category,
  COUNT(*) FILTER (WHERE started) AS plays,
  ROUND(COUNT(*) FILTER (WHERE completed) / NULLIF(plays, 0), 3) AS completion_rate,
  ROUND(SUM(watch_time_s) / NULLIF(plays, 0), 1) AS watch_time_s_per_play,
  ROUND(AVG(seeks) FILTER (WHERE started), 2) AS seeks_per_play
FROM core.video_views
GROUP BY category
ORDER BY plays DESC
