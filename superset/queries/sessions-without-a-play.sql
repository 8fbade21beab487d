-- How many sessions end without a single play, and on which devices?
-- Ended sessions by device: those that never played a video, and how long they lasted.
SELECT
  device,
  COUNT(*) AS ended_sessions,
  COUNT(*) FILTER (WHERE plays = 0) AS without_a_play,
  ROUND(without_a_play / NULLIF(ended_sessions, 0), 3) AS share_without_a_play,
  ROUND(AVG(length_s) FILTER (WHERE plays = 0), 1) AS length_s_without_a_play
FROM core.sessions
WHERE ended_at IS NOT NULL
GROUP BY device
ORDER BY share_without_a_play DESC
