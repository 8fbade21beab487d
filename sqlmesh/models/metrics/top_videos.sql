/* Which videos people play: the head, and how long the tail is. */
MODEL (
  name metrics.top_videos,
  /* FULL: a video's rank and its place in the tail depend on every play so far, so any new
     play can move every row. It reads core.video_views (one row per view, tens of times fewer
     rows than events) and holds one row per video played, bounded by the catalogue. */
  kind FULL,
  /* A FULL model's interval is today's; partial intervals let each run rebuild it. */
  allow_partials TRUE,
  grain video_id,
  description 'One row per catalogue video played at least once, over all runs (a view whose events name no video in reference.videos is in no row): plays, watch time, completion and exits before video start, ranked by plays, with each video''s cumulative share of plays (the long tail).',
  column_descriptions (
    video_id = 'Video.',
    category = 'Category of the video.',
    plays = 'Plays of the video (views whose first frame played).',
    exits_before_start = 'Views of the video left before the first frame.',
    completed_plays = 'Plays that reached the end.',
    completion_rate = 'completed_plays over plays.',
    watch_time_s = 'Seconds of the video played.',
    rank = 'Rank by plays, then watch time, then video_id (1 is the most played).',
    share_of_plays = 'The video''s plays over all plays.',
    cumulative_share = 'Share of all plays taken by this video and every video ranked above it.',
    in_long_tail = 'TRUE when the videos ranked above it already take 80% of plays: the video is in the long tail.'
  )
);

WITH per_video AS (
  SELECT
    video_id,
    ANY_VALUE(category) AS category,
    COUNT(*) FILTER (WHERE started) AS plays,
    COUNT(*) FILTER (WHERE exited_before_start) AS exits_before_start,
    COUNT(*) FILTER (WHERE completed) AS completed_plays,
    SUM(watch_time_s) AS watch_time_s
  FROM core.video_views
  WHERE
    NOT video_id IS NULL
  GROUP BY
    1
  HAVING
    COUNT(*) FILTER (WHERE started) > 0
), ranked AS (
  SELECT
    *,
    ROW_NUMBER() OVER (ORDER BY plays DESC, watch_time_s DESC, video_id) AS rank,
    plays / SUM(plays) OVER () AS share_of_plays,
    SUM(plays) OVER (ORDER BY plays DESC, watch_time_s DESC, video_id ROWS UNBOUNDED PRECEDING)
      / SUM(plays) OVER () AS cumulative_share
  FROM per_video
)
SELECT
  video_id::TEXT AS video_id,
  category::TEXT AS category,
  plays::INT AS plays,
  exits_before_start::INT AS exits_before_start,
  completed_plays::INT AS completed_plays,
  ROUND(completed_plays / plays, 4)::DOUBLE AS completion_rate,
  ROUND(watch_time_s, 3)::DOUBLE AS watch_time_s,
  rank::INT AS rank,
  ROUND(share_of_plays, 6)::DOUBLE AS share_of_plays,
  ROUND(cumulative_share, 6)::DOUBLE AS cumulative_share,
  (ROUND(cumulative_share - share_of_plays, 9) >= 0.8)::BOOLEAN AS in_long_tail
FROM ranked
