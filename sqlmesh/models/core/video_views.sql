/* One row per video a viewer opened: the play (if the first frame came), how long it played,
   and how it ended. Plays are the rows with started. */
MODEL (
  name core.video_views,
  /* Windows follow ingestion, like staging. Each run rebuilds every view of each session that
     received events in the window, from all of that session's events, and upserts it by its
     key, so a late event corrects its view and a re-run changes nothing. A view is rebuilt
     only when its video_opened is within the lookback: an older view is left as it was. */
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key view_id
  ),
  allow_partials TRUE,
  interval_unit 'hour',
  grain view_id,
  description 'One row per video opened in a session (a view), with its play when the first frame came: video start time, watch time, completion, seeks, pauses and how the view ended. Built from staging rows whose envelope is valid (staging.events.envelope_valid), in session order (emitted_at, then Kafka offset); values the expectations reject are not counted (video ids outside reference.videos, enums outside reference.event_fields). See docs/metrics.md.',
  column_descriptions (
    view_id = 'The event_key of the video_opened event that began the view.',
    run_id = 'Simulation run.',
    session_id = 'Browser session the view belongs to.',
    user_id = 'Simulated user.',
    video_id = 'The catalogue video opened: the video_opened event''s video_id when reference.videos has it, else the first one of the view''s other events that it has; NULL when no event of the view names a catalogue video (such a view counts as a play, but in no video''s row).',
    category = 'Category of the video in the catalogue (reference.videos); NULL when the video is not known.',
    via = 'How the video was reached: open_video, next_video or recommended; unknown when the value sent is not one of them.',
    country = 'Country of the session (from session_started); unknown when that event is not known or its country is not an accepted one.',
    device = 'Device of the session; unknown when session_started is not known or its device is not an accepted one.',
    opened_at = 'Site time the video was opened.',
    started = 'TRUE when the first frame played (a playback_started that is not a restart): the view is a play.',
    started_at = 'Site time of the first frame; NULL when the play never started.',
    video_start_time_ms = 'Video start time: milliseconds from asking for the stream to the first frame, as the player measured it; NULL when not started.',
    exited_before_start = 'TRUE when the viewer left before the first frame (gave up waiting, or left the video or the site while it loaded): an exit before video start.',
    abandon_reason = 'Why an exit before video start happened, when the player said (no_server, slow_start; unknown for any other value).',
    ended_at = 'Site time of the event that ended the view (video_ended, video_skipped or playback_abandoned); NULL while it is still open or when that event was not counted.',
    closed_at = 'Site time the view stops counting as in progress: ended_at; else the opening of the session''s next view; else its last counted event plus session_timeout_s (variable, site seconds).',
    outcome = 'How the view ended: ended (played to the end), skipped (left before the end), lost (its stream was lost and no server took it back in time), exited_before_start; NULL while open.',
    completed = 'TRUE when the play reached the end of the video (video_ended).',
    watch_time_s = 'Seconds of video played: the sum, over each stretch of play, of the position reached minus the position the stretch began at (seeks and pauses excluded), never more than the site time the stretch took. A stretch bounded by a position off the video (below 0, beyond its length + 1 s), or running backwards, counts nothing. 0 when not started.',
    furthest_position_s = 'The furthest position the viewer was seen at, in seconds (positions off the video not read).',
    pauses = 'Pauses during the play.',
    seeks = 'Seeks during the play.',
    seeks_forward = 'Seeks forward.',
    seeks_back = 'Seeks back.',
    restarts = 'Times the stream restarted on another server after its server was lost.',
    heartbeats = 'Heartbeats the player sent during the play.',
    last_ingested_at = 'Latest ingestion time among the view''s events: what the marts window on.'
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
), accepted AS (
  /* The values the accepted_values expectation allows: any other is counted as unknown. */
  SELECT
    event_type,
    field,
    accepted
  FROM reference.event_fields
  WHERE
    NOT accepted IS NULL
), numbered AS (
  SELECT
    *,
    SUM(CASE WHEN event_type = 'video_opened' THEN 1 ELSE 0 END) OVER session_order AS view_number,
    ROW_NUMBER() OVER session_order AS session_seq
  FROM session_events
  WINDOW session_order AS (
    PARTITION BY run_id, session_id
    ORDER BY emitted_at, kafka_offset
    ROWS UNBOUNDED PRECEDING
  )
), traits AS (
  SELECT
    run_id,
    session_id,
    ARG_MIN(country, emitted_at) AS country,
    ARG_MIN(device, emitted_at) AS device
  FROM numbered
  WHERE
    event_type = 'session_started'
  GROUP BY
    1,
    2
), session_ends AS (
  SELECT
    run_id,
    session_id,
    MIN(emitted_at) AS ended_at
  FROM numbered
  WHERE
    event_type = 'session_ended'
  GROUP BY
    1,
    2
), view_videos AS (
  /* A view is of the catalogue video it was opened with or, when that id is not in the
     catalogue (a stale id on one event), the first catalogue video its other events name. */
  SELECT
    n.run_id,
    n.session_id,
    n.view_number,
    COALESCE(
      ARG_MIN(r.video_id, n.session_seq) FILTER (WHERE n.event_type = 'video_opened'),
      ARG_MIN(r.video_id, n.session_seq)
    ) AS video_id
  FROM numbered AS n
  JOIN reference.videos AS r
    ON n.video_id = r.video_id
  WHERE
    n.view_number > 0
  GROUP BY
    1,
    2,
    3
), view_events AS (
  SELECT
    n.*,
    vv.video_id AS catalogue_video_id,
    r.category AS catalogue_category,
    ROW_NUMBER() OVER view_order AS seq,
    n.event_type IN ('video_ended', 'video_skipped', 'playback_abandoned') AS is_terminal,
    /* Positions where a stretch of play meets this event, and where it leaves it; a position
       outside the view's video (below 0, beyond its length + 1 s) is a broken player's and is
       not read, so neither stretch it bounds counts. */
    CASE
      WHEN n.event_type = 'playback_seeked'
      THEN @position_on_video(n.from_s, r.duration_s)
      ELSE @position_on_video(n.position_s, r.duration_s)
    END AS position_in,
    CASE
      WHEN n.event_type = 'playback_seeked'
      THEN @position_on_video(n.to_s, r.duration_s)
      ELSE @position_on_video(n.position_s, r.duration_s)
    END AS position_out,
    n.event_type IN ('playback_started', 'playback_resumed', 'heartbeat', 'playback_seeked') AS plays_on
  FROM numbered AS n
  LEFT JOIN view_videos AS vv
    ON n.run_id = vv.run_id AND n.session_id = vv.session_id AND n.view_number = vv.view_number
  LEFT JOIN reference.videos AS r
    ON vv.video_id = r.video_id
  WHERE
    n.view_number > 0
    AND n.event_type NOT IN ('session_started', 'session_ended', 'page_viewed')
  WINDOW view_order AS (
    PARTITION BY n.run_id, n.session_id, n.view_number
    ORDER BY n.emitted_at, n.kafka_offset
  )
), until_end AS (
  /* Nothing after the event that ended the view belongs to it. */
  SELECT
    *,
    /* A stretch that runs backwards lost the seek between its ends: it counts nothing. One
       that ran ahead faster than the clock lost a seek forward: it counts the time it took. */
    CASE
      WHEN LAG(plays_on) OVER view_order
      AND position_in >= LAG(position_out) OVER view_order
      THEN LEAST(
        position_in - LAG(position_out) OVER view_order,
        EPOCH(emitted_at) - EPOCH(LAG(emitted_at) OVER view_order)
      )
    END AS played_s
  FROM view_events
  QUALIFY
    COALESCE(
      SUM(is_terminal::INT) OVER (view_order ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
      0
    ) = 0
  WINDOW view_order AS (
    PARTITION BY run_id, session_id, view_number
    ORDER BY seq
  )
), views AS (
  SELECT
    run_id,
    session_id,
    view_number,
    ANY_VALUE(user_id) AS user_id,
    MAX(event_key) FILTER (WHERE event_type = 'video_opened') AS view_id,
    ANY_VALUE(catalogue_video_id) AS video_id,
    ANY_VALUE(catalogue_category) AS category,
    MAX(via) FILTER (WHERE event_type = 'video_opened') AS via,
    MIN(emitted_at) FILTER (WHERE event_type = 'video_opened') AS opened_at,
    MIN(emitted_at) FILTER (WHERE event_type = 'playback_started' AND restart_reason IS NULL) AS started_at,
    ARG_MIN(video_start_time_ms, seq) FILTER (WHERE event_type = 'playback_started' AND restart_reason IS NULL) AS video_start_time_ms,
    ARG_MIN(event_type, seq) FILTER (WHERE is_terminal) AS final_event,
    ARG_MIN(reason, seq) FILTER (WHERE event_type = 'playback_abandoned') AS abandon_reason,
    MIN(emitted_at) FILTER (WHERE is_terminal) AS ended_at,
    MAX(emitted_at) AS last_event_at,
    COALESCE(SUM(played_s), 0) AS watch_time_s,
    MAX(GREATEST(position_in, position_out)) AS furthest_position_s,
    COUNT(*) FILTER (WHERE event_type = 'playback_paused') AS pauses,
    COUNT(*) FILTER (WHERE event_type = 'playback_seeked') AS seeks,
    COUNT(*) FILTER (WHERE event_type = 'playback_seeked' AND direction = 'forward') AS seeks_forward,
    COUNT(*) FILTER (WHERE event_type = 'playback_seeked' AND direction = 'back') AS seeks_back,
    COUNT(*) FILTER (WHERE event_type = 'playback_started' AND restart_reason = 'stream_lost') AS restarts,
    COUNT(*) FILTER (WHERE event_type = 'heartbeat') AS heartbeats,
    MAX(ingested_at) AS last_ingested_at
  FROM until_end
  GROUP BY
    1,
    2,
    3
), closed AS (
  /* A view whose ending event was not counted is over when the next one opens, when its
     session ends, or session_timeout_s after its last event: never in progress for ever. */
  SELECT
    v.*,
    COALESCE(
      v.ended_at,
      LEAD(v.opened_at) OVER (PARTITION BY v.run_id, v.session_id ORDER BY v.view_number),
      LEAST(
        v.last_event_at + INTERVAL (@VAR('session_timeout_s', 120)) SECOND,
        e.ended_at
      )
    ) AS closed_at
  FROM views AS v
  LEFT JOIN session_ends AS e
    ON v.run_id = e.run_id AND v.session_id = e.session_id
)
SELECT
  v.view_id::TEXT AS view_id,
  v.run_id::TEXT AS run_id,
  v.session_id::TEXT AS session_id,
  v.user_id::TEXT AS user_id,
  v.video_id::TEXT AS video_id,
  v.category::TEXT AS category,
  @accepted_or_unknown('video_opened', 'via', v.via)::TEXT AS via,
  @accepted_or_unknown('session_started', 'country', t.country)::TEXT AS country,
  @accepted_or_unknown('session_started', 'device', t.device)::TEXT AS device,
  v.opened_at::TIMESTAMP AS opened_at,
  (NOT v.started_at IS NULL)::BOOLEAN AS started,
  v.started_at::TIMESTAMP AS started_at,
  v.video_start_time_ms::BIGINT AS video_start_time_ms,
  (v.started_at IS NULL AND NOT v.final_event IS NULL)::BOOLEAN AS exited_before_start,
  CASE
    WHEN v.abandon_reason IS NULL
    THEN NULL
    WHEN LIST_CONTAINS(
      (SELECT accepted FROM accepted WHERE event_type = 'playback_abandoned' AND field = 'reason'),
      v.abandon_reason
    )
    THEN v.abandon_reason
    ELSE 'unknown'
  END::TEXT AS abandon_reason,
  v.ended_at::TIMESTAMP AS ended_at,
  v.closed_at::TIMESTAMP AS closed_at,
  CASE
    WHEN v.final_event IS NULL
    THEN NULL
    WHEN v.started_at IS NULL
    THEN 'exited_before_start'
    WHEN v.final_event = 'video_ended'
    THEN 'ended'
    WHEN v.final_event = 'video_skipped'
    THEN 'skipped'
    ELSE 'lost'
  END::TEXT AS outcome,
  COALESCE(v.final_event = 'video_ended' AND NOT v.started_at IS NULL, FALSE)::BOOLEAN AS completed,
  ROUND(v.watch_time_s, 3)::DOUBLE AS watch_time_s,
  v.furthest_position_s::DOUBLE AS furthest_position_s,
  v.pauses::INT AS pauses,
  v.seeks::INT AS seeks,
  v.seeks_forward::INT AS seeks_forward,
  v.seeks_back::INT AS seeks_back,
  v.restarts::INT AS restarts,
  v.heartbeats::INT AS heartbeats,
  v.last_ingested_at::TIMESTAMP AS last_ingested_at
FROM closed AS v
LEFT JOIN traits AS t
  ON v.run_id = t.run_id AND v.session_id = t.session_id
/* A view whose video_opened fell out of the lookback is left as it was. */
WHERE
  NOT v.view_id IS NULL
