-- How long is the tail: how many videos make up the first 80 % of plays?
-- Videos in the head and in the long tail, with their share of plays.
SELECT
  in_long_tail,
  COUNT(*) AS videos,
  SUM(plays) AS plays,
  ROUND(SUM(share_of_plays), 3) AS share_of_plays
FROM metrics.top_videos
GROUP BY in_long_tail
ORDER BY in_long_tail
