-- Which videos lose most viewers in their first 30 seconds?
-- Plays that left the video (skipped or lost) before 30 s of it, over all plays of the video.
SELECT
  video_id,
  ANY_VALUE(category) AS category,
  COUNT(*) FILTER (WHERE started) AS plays,
  COUNT(*) FILTER (WHERE started AND outcome <> 'ended' AND furthest_position_s < 30) AS left_early,
  ROUND(left_early / NULLIF(plays, 0), 3) AS left_early_share
FROM core.video_views
GROUP BY video_id
HAVING plays >= 5
ORDER BY left_early_share DESC, plays DESC
LIMIT 20
