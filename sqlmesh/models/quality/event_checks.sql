/* Every message judged: on its own (from quality.messages) and against its neighbours. */
MODEL (
  name quality.event_checks,
  /* Incremental by arrival: a run judges the messages that arrived in its window and
     judges again every user message a relational check may set beside one of them (the
     same Kafka key, session or user, within session_lookback_hours), so a verdict that a
     newcomer changes (a gap filled, a start that arrived late) is rewritten. Run clocks are
     fitted on every server message of the lookback; a row judged earlier keeps the skew its
     run's fit gave then. */
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key (topic, kafka_partition, kafka_offset)
  ),
  allow_partials TRUE,
  interval_unit 'hour',
  grain (topic, kafka_partition, kafka_offset),
  audits (
    unique_combination_of_columns(columns := (topic, kafka_partition, kafka_offset)),
    not_null(columns := (topic, kafka_partition, kafka_offset, payload_md5, copy)),
    passes_expectation(expectation := parseable),
    passes_expectation(expectation := schema_valid),
    passes_expectation(expectation := required_fields),
    passes_expectation(expectation := accepted_values),
    passes_expectation(expectation := valid_ranges),
    passes_expectation(expectation := unique_event_id),
    passes_expectation(expectation := known_video),
    passes_expectation(expectation := known_session),
    passes_expectation(expectation := timely),
    passes_expectation(expectation := in_session_order),
    passes_expectation(expectation := heartbeat_cadence),
    passes_expectation(expectation := reconciled)
  ),
  description 'One row per message that reached the lake (re-reads removed, quarantined messages included), with its identity and one boolean per expectation: TRUE passes, FALSE fails, NULL does not apply. Relational expectations (known_session, in_session_order, heartbeat_cadence, reconciled) judge only messages valid on their own, and a neighbour rejected by a check excuses the gap it leaves. See docs/data-quality.md.',
  column_descriptions (
    topic = 'Kafka topic of the message.',
    kafka_partition = 'Kafka partition of the message.',
    kafka_offset = 'Offset of the message in its partition.',
    kafka_key = 'The message''s Kafka key (its session for user events).',
    event_id = 'event_id as sent, when text.',
    event_key = 'event_id when present, else a key from the Kafka coordinates.',
    payload_md5 = 'Hex MD5 of the exact bytes received: with copy, the identity the truth names.',
    copy = 'Number of this message among those with the same bytes, by partition and offset.',
    event_type = 'event_type as sent (or as a quarantined text still shows it).',
    source = 'source as sent.',
    run_id = 'The run whose site clock judges the message: run_id as sent, else the run ingesting at that time.',
    user_id = 'user_id as sent.',
    session_id = 'session_id as sent; the Kafka key for quarantined messages.',
    emitted_at = 'emitted_at in the wire format; NULL when unreadable.',
    emitted_minute = 'Minute (UTC site time) of emitted_at as sent.',
    site_minute = 'Minute (UTC site time) at which the message arrived, from its run''s site clock: where skewed and unreadable messages are counted.',
    ingested_at = 'Real UTC time at which the sink wrote the message.',
    skew_s = 'emitted_at minus the site time of arrival, in site seconds.',
    parseable = 'Expectation: one UTF-8 JSON object.',
    schema_valid = 'Expectation: JSON types of the documented fields, wire time format, schema_version 1.',
    required_fields = 'Expectation: required fields present and not null.',
    accepted_values = 'Expectation: known event_type for its source, and enum values in their sets.',
    valid_ranges = 'Expectation: positions within [0, duration + 1 s], counts >= 0.',
    unique_event_id = 'Expectation: first arrival of the event_id and bytes.',
    known_video = 'Expectation: video_id in the catalogue.',
    known_session = 'Expectation: a user event''s session has a session_started (excused when a rejected message of the same key or user came first).',
    timely = 'Expectation: |skew_s| within the tolerance (variable timely_tolerance_s, 1800 site seconds).',
    in_session_order = 'Expectation: emitted_at not earlier than any earlier message (by offset) of the session with a trusted time.',
    heartbeat_cadence = 'Expectation: the play before this event had a heartbeat every heartbeat_s of position (unless rejected messages account for the gap), and a heartbeat is no repeat of the one just before.',
    cadence_gap_from = 'When heartbeat_cadence found a gap: emitted_at of the play event that opened it.',
    reconciled = 'Expectation: a user''s playback_started names a stream some server''s stream_started has.',
    passed_all = 'No expectation fails.'
  )
);

WITH arrived AS (
  /* The user messages this run judges for the first time: their keys set its scope. */
  SELECT
    kafka_key,
    user_id,
    session_id
  FROM quality.messages
  WHERE
    ingested_at BETWEEN @arrivals_from(@start_ts, 'quality', @this_model)
    AND @end_ts::TIMESTAMP
    AND topic = 'streamsim.user-events'
), lookback AS (
  SELECT
    *
  FROM quality.messages
  WHERE
    ingested_at >= @start_ts::TIMESTAMP - INTERVAL (@VAR('session_lookback_hours', 24)) HOUR
), scope AS (
  /* Every message in the window, and the user messages of the keys, sessions and users it
     names (each an equal-key lookup: DuckDB hashes them). */
  SELECT
    *
  FROM lookback
  WHERE
    ingested_at BETWEEN @arrivals_from(@start_ts, 'quality', @this_model)
    AND @end_ts::TIMESTAMP
    OR (
      topic = 'streamsim.user-events'
      AND (
        kafka_key IN (SELECT kafka_key FROM arrived)
        OR user_id IN (SELECT user_id FROM arrived)
        OR session_id IN (SELECT session_id FROM arrived)
      )
    )
), runs AS (
  SELECT
    run_id,
    REGR_SLOPE(EPOCH(emitted_at), EPOCH(ingested_at)) AS slope,
    REGR_INTERCEPT(EPOCH(emitted_at), EPOCH(ingested_at)) AS intercept,
    MIN(ingested_at) AS first_ingested,
    MAX(ingested_at) AS last_ingested
  FROM lookback
  WHERE
    topic = 'streamsim.server-events' AND valid_alone AND NOT emitted_at IS NULL
  GROUP BY
    run_id
  HAVING
    COUNT(*) >= 2 AND REGR_SLOPE(EPOCH(emitted_at), EPOCH(ingested_at)) > 0
), placed AS (
  SELECT
    m.*,
    COALESCE(
      m.emitted_at,
      CASE
        WHEN REGEXP_FULL_MATCH(m.emitted_text, '\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z')
        THEN TIMEZONE('UTC', TRY_CAST(m.emitted_text AS TIMESTAMPTZ))::TIMESTAMP
      END
    ) AS time_read,
    COALESCE(
      (SELECT r.run_id FROM runs AS r WHERE r.run_id = m.run_id),
      (
        SELECT
          r.run_id
        FROM runs AS r
        WHERE
          m.ingested_at BETWEEN r.first_ingested - INTERVAL 60 SECOND AND r.last_ingested + INTERVAL 60 SECOND
        ORDER BY
          r.first_ingested DESC
        LIMIT 1
      )
    ) AS clock_run
  FROM scope AS m
), clocked AS (
  SELECT
    p.*,
    EPOCH(p.time_read) - (r.intercept + r.slope * EPOCH(p.ingested_at)) AS skew_s,
    MAKE_TIMESTAMP(((r.intercept + r.slope * EPOCH(p.ingested_at)) * 1000000)::BIGINT) AS site_arrival,
    ABS(EPOCH(p.time_read) - (r.intercept + r.slope * EPOCH(p.ingested_at))) <= @VAR('timely_tolerance_s', 1800) AS time_trusted,
    /* The next first copy of the same key: where a message held back from before lands. */
    MIN(CASE WHEN p.copy = 1 THEN p.kafka_offset END) OVER (
      PARTITION BY p.topic, p.kafka_partition, p.kafka_key
      ORDER BY p.kafka_offset
      ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
    ) AS next_first
  FROM placed AS p
  LEFT JOIN runs AS r
    ON r.run_id = p.clock_run
), started AS (
  /* A start that lost its session_id still names its session by its Kafka key. */
  SELECT DISTINCT
    COALESCE(session_id, kafka_key) AS session_id,
    user_id
  FROM clocked
  WHERE
    event_type = 'session_started' AND NOT COALESCE(session_id, kafka_key) IS NULL
), user_sessions AS (
  /* A session with more than one message is real: a made-up session id carries one. */
  SELECT
    user_id,
    COALESCE(session_id, kafka_key) AS session_id
  FROM clocked
  WHERE
    topic = 'streamsim.user-events'
    AND copy = 1
    AND NOT user_id IS NULL
    AND NOT COALESCE(session_id, kafka_key) IS NULL
  GROUP BY
    1,
    2
  HAVING
    COUNT(*) > 1
), rejected_openers AS (
  /* Rejected messages that may have been a session's start: unreadable, or of no known type. */
  SELECT
    topic,
    kafka_partition,
    kafka_offset,
    COALESCE(session_id, kafka_key) AS session_key,
    user_id
  FROM clocked
  WHERE
    NOT valid_alone
    AND (
      event_type IS NULL
      OR event_type = 'session_started'
      OR NOT event_type IN (SELECT event_type FROM reference.event_fields)
    )
), sessions_judged AS (
  SELECT
    e.*,
    CASE
      WHEN NOT e.valid_alone
      OR e.topic <> 'streamsim.user-events'
      OR e.event_type = 'session_started'
      OR e.session_id IS NULL
      THEN NULL
      WHEN e.session_id IN (SELECT session_id FROM started)
      THEN TRUE
      WHEN e.user_id IN (SELECT user_id FROM started WHERE NOT user_id IS NULL)
      THEN FALSE
      WHEN EXISTS(
        SELECT
          1
        FROM user_sessions AS u
        WHERE
          u.user_id = e.user_id AND u.session_id <> e.session_id
      )
      THEN FALSE
      /* Two lookups, each on equal keys: one EXISTS over both made DuckDB compare every
         message with every rejected one (a nested loop, minutes at a few 100k messages). */
      ELSE EXISTS(
        SELECT
          1
        FROM rejected_openers AS r
        WHERE
          r.topic = e.topic
          AND r.session_key = e.session_id
          AND r.kafka_partition = e.kafka_partition
          /* Before it, or held back from before it and landed right after it. */
          AND (r.kafka_offset < e.kafka_offset OR r.kafka_offset = e.next_first)
      )
      OR EXISTS(
        SELECT
          1
        FROM rejected_openers AS r
        WHERE
          r.topic = e.topic AND r.session_key IS NULL AND r.user_id = e.user_id
      )
    END AS known_session
  FROM clocked AS e
), trusted AS (
  /* Rejected: failing alone, untimely, or in a session never started. */
  SELECT
    *,
    valid_alone AND COALESCE(time_trusted, FALSE) AND known_session IS DISTINCT FROM FALSE AS usable,
    /* Sent after a later message of its session: judged by order, not used for cadence. */
    time_read < MAX(CASE WHEN time_trusted THEN time_read END) OVER (
      PARTITION BY topic, kafka_partition, session_id
      ORDER BY kafka_offset
      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) IS TRUE AS held_back,
    MAX(CASE WHEN time_trusted THEN time_read END) OVER (
      PARTITION BY topic, kafka_partition, session_id
      ORDER BY kafka_offset
      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS latest_before,
    LAG(event_type) OVER keyed AS prev_type,
    LAG(position_s) OVER keyed AS prev_position,
    LAG(video_id) OVER keyed AS prev_video,
    LAG(valid_ranges) OVER keyed AS prev_ranges,
    LAG(emitted_text) OVER keyed AS prev_text,
    LAG(CASE WHEN time_trusted THEN time_read END) OVER keyed AS prev_time,
    /* The next message by offset: a message held back from before this one lands there. */
    LEAD(kafka_offset) OVER keyed AS next_offset
  FROM sessions_judged
  WHERE
    copy = 1
  /* By Kafka key: a message that lost its session_id still sits in its session's order. */
  WINDOW keyed AS (PARTITION BY topic, kafka_partition, kafka_key ORDER BY kafka_offset)
), plays AS (
  SELECT
    *,
    LAG(event_type) OVER play AS before_type,
    LAG(video_id) OVER play AS before_video,
    LAG(CASE WHEN event_type = 'playback_seeked' THEN to_s ELSE position_s END) OVER play AS anchor_s,
    LAG(kafka_offset) OVER play AS before_offset,
    LAG(kafka_offset, 2) OVER play AS before2_offset,
    /* Whether the step before this one was a full beat at most: then a message without a
       trusted time lying there by offset was not needed to account for that step. */
    LAG(CASE WHEN event_type = 'playback_seeked' THEN from_s ELSE position_s END) OVER play
    - LAG(CASE WHEN event_type = 'playback_seeked' THEN to_s ELSE position_s END, 2) OVER play
    <= @VAR('heartbeat_s', 10) + 0.01 AS step_before_whole,
    LAG(time_read) OVER play AS before_time
  FROM trusted
  WHERE
    usable
    AND NOT held_back
    AND topic = 'streamsim.user-events'
    AND event_type IN (
      'playback_started', 'playback_resumed', 'playback_seeked', 'heartbeat',
      'playback_paused', 'video_ended', 'video_skipped', 'playback_abandoned'
    )
  WINDOW play AS (PARTITION BY session_id ORDER BY time_read, kafka_offset)
), rejected AS (
  SELECT
    *
  FROM trusted
  WHERE
    NOT (usable AND NOT held_back)
), play_names AS (
  /* Each play event under each name it goes by: its session id, Kafka key and user. */
  SELECT
    topic,
    kafka_partition,
    kafka_offset,
    UNNEST(['session:' || session_id, 'key:' || kafka_key, 'user:' || user_id]) AS name
  FROM plays
), rejected_names AS (
  SELECT
    topic,
    kafka_partition,
    kafka_offset,
    UNNEST(['session:' || session_id, 'key:' || kafka_key, 'user:' || user_id]) AS name
  FROM rejected
), gap_candidates AS (
  /* Pairs of a play event and a rejected message that share a name: one join on equal keys,
     and in_between keeps the pairs that lie in the gap. (One join with the whole condition,
     an OR over the three names, made DuckDB compare every play event with every rejected
     message.) A NULL name matches nothing; DISTINCT drops a pair found by two names. */
  SELECT DISTINCT
    p.topic,
    p.kafka_partition,
    p.kafka_offset,
    r.kafka_partition AS rejected_partition,
    r.kafka_offset AS rejected_offset
  FROM play_names AS p
  JOIN rejected_names AS r
    ON r.topic = p.topic AND r.name = p.name
), in_between AS (
  /* Rejected messages of the play's session lying between an event and the one before it,
     by offset in the partition or by a readable time: what may account for a gap. */
  SELECT
    p.topic,
    p.kafka_partition,
    p.kafka_offset,
    COUNT(r.kafka_offset) FILTER (
      WHERE r.event_type IS NULL
      OR NOT r.event_type IN (SELECT event_type FROM reference.event_fields)
      /* A beat whose position can be read accounts only for a gap that holds it. */
      OR (
        r.event_type = 'heartbeat'
        AND (
          r.position_s IS NULL
          OR r.valid_ranges IS FALSE
          OR r.position_s BETWEEN p.anchor_s + 0.01 AND CASE WHEN p.event_type = 'playback_seeked' THEN p.from_s ELSE p.position_s END + 0.01
        )
      )
    ) AS maybe_beats,
    COUNT(r.kafka_offset) FILTER (
      WHERE r.event_type <> 'heartbeat'
      AND r.event_type IN (SELECT event_type FROM reference.event_fields)
      /* Only a message between the two can have moved the anchor, or one held back from
         there that lands right after this event with a time that cannot place it. */
      AND (
        r.kafka_offset BETWEEN LEAST(p.kafka_offset, p.before_offset) AND GREATEST(p.kafka_offset, p.before_offset)
        OR r.time_read BETWEEN p.before_time AND p.time_read
        OR (NOT COALESCE(r.time_trusted, FALSE) AND r.kafka_offset = p.next_offset)
      )
    ) AS other_events
  FROM gap_candidates AS c
  JOIN plays AS p
    USING (topic, kafka_partition, kafka_offset)
  JOIN rejected AS r
    ON r.topic = c.topic
    AND r.kafka_partition = c.rejected_partition
    AND r.kafka_offset = c.rejected_offset
  WHERE
    (
      (
        r.kafka_partition = p.kafka_partition
        AND (
          r.session_id = p.session_id
          OR r.kafka_key = p.kafka_key
          OR (r.session_id IS NULL AND r.user_id = p.user_id)
        )
        AND (
          r.kafka_offset BETWEEN LEAST(p.kafka_offset, p.before_offset) AND GREATEST(p.kafka_offset, p.before_offset)
          /* A message held back from before this event lands right after it; without a
             trusted time nothing else places it in this gap. */
          OR (NOT COALESCE(r.time_trusted, FALSE) AND r.kafka_offset = p.next_offset)
          /* A message without a trusted time may belong anywhere since the play event
             before the previous one: a held-back message can sit after it by offset. */
          OR (
            NOT COALESCE(r.time_trusted, FALSE)
            AND p.step_before_whole
            AND r.kafka_offset BETWEEN LEAST(p.before2_offset, p.before_offset) AND GREATEST(p.before2_offset, p.before_offset)
          )
        )
      )
      OR (
        r.time_read BETWEEN p.before_time AND p.time_read
        AND (r.session_id = p.session_id OR r.user_id = p.user_id)
      )
    )
  GROUP BY
    1,
    2,
    3
), gaps AS (
  SELECT
    p.topic,
    p.kafka_partition,
    p.kafka_offset,
    p.before_time,
    (CASE WHEN p.event_type = 'playback_seeked' THEN p.from_s ELSE p.position_s END - p.anchor_s)
    / @VAR('heartbeat_s', 10) AS steps,
    /* Beats due in (anchor, position]: a heartbeat is itself the last of them; any other
       event on a beat's position comes right after that beat, so the beat is due before it. */
    CASE
      WHEN p.event_type = 'heartbeat'
      THEN ROUND(steps) - 1
      ELSE FLOOR(steps + 0.0005 / @VAR('heartbeat_s', 10))
    END AS missing,
    COALESCE(b.maybe_beats, 0) AS excused,
    /* A rejected seek, resume or pause in between moved the anchor: nothing to judge. Nor
       when a heartbeat is off the anchor's 10 s grid: an unseen seek or resume did that. */
    COALESCE(b.other_events, 0) > 0
    OR (
      p.event_type = 'heartbeat'
      AND ABS(steps - ROUND(steps)) * @VAR('heartbeat_s', 10) > 0.02
    ) AS anchor_moved
  FROM plays AS p
  LEFT JOIN in_between AS b
    USING (topic, kafka_partition, kafka_offset)
  WHERE
    p.before_type IN ('playback_started', 'playback_resumed', 'playback_seeked', 'heartbeat')
    /* Not playback_abandoned: a stream lost at a beat gives up on the beat's position. */
    AND p.event_type IN ('heartbeat', 'playback_paused', 'video_ended', 'video_skipped', 'playback_seeked')
    AND p.before_video = p.video_id
), cadence AS (
  SELECT
    p.topic,
    p.kafka_partition,
    p.kafka_offset,
    COALESCE(g.missing > g.excused AND NOT g.anchor_moved, FALSE) AS gap_found,
    g.before_time AS gap_from,
    p.event_type = 'heartbeat'
    AND (
      (
        (
          p.prev_type = 'heartbeat'
          AND (
            (
              p.prev_ranges IS DISTINCT FROM FALSE
              AND ABS(p.position_s - p.prev_position) < 0.8 * @VAR('heartbeat_s', 10)
            )
            OR p.prev_text = p.emitted_text
          )
          /* A beat whose type could not be read is still the same beat by its time. */
          OR (
            (p.prev_type IS NULL OR NOT p.prev_type IN (SELECT event_type FROM reference.event_fields))
            AND p.prev_text = p.emitted_text
          )
        )
        /* A seek or resume sent under another session id would have stood between. */
        AND NOT EXISTS(
          SELECT
            1
          FROM trusted AS r
          WHERE
            r.topic = p.topic
            AND r.user_id = p.user_id
            AND COALESCE(r.session_id, r.kafka_key) IS DISTINCT FROM p.session_id
            AND r.time_read BETWEEN p.prev_time AND p.time_read
        )
      )
    ) IS TRUE AS repeat_found
  FROM plays AS p
  LEFT JOIN gaps AS g
    USING (topic, kafka_partition, kafka_offset)
), last_server_ingest AS (
  SELECT
    MAX(ingested_at) AS ingested_at
  FROM lookback
  WHERE
    topic = 'streamsim.server-events'
), judged AS (
  SELECT
    s.*,
    CASE
      WHEN NOT s.valid_alone OR s.copy > 1
      THEN NULL
      WHEN s.topic <> 'streamsim.user-events' OR s.time_read IS NULL OR NOT t.usable
      THEN NULL
      ELSE s.time_read >= COALESCE(t.latest_before, s.time_read)
      /* A beat right after a beat of the same video (by offset) cannot be further back:
         this catches a held-back beat whose successor's time could not be trusted. */
      AND NOT (
        s.event_type = 'heartbeat'
        AND t.prev_type = 'heartbeat'
        AND t.prev_ranges IS DISTINCT FROM FALSE
        AND t.prev_video = s.video_id
        AND s.position_s < t.prev_position - 0.01
      ) IS TRUE
    END AS in_session_order,
    CASE
      WHEN c.kafka_offset IS NULL
      THEN NULL
      ELSE NOT (c.gap_found OR c.repeat_found)
    END AS heartbeat_cadence,
    CASE WHEN c.gap_found THEN c.gap_from END AS cadence_gap_from,
    CASE WHEN s.parseable AND NOT s.emitted_at IS NULL THEN s.time_trusted END AS timely,
    CASE
      WHEN s.event_type <> 'playback_started' OR NOT COALESCE(t.usable, FALSE) OR s.stream_id IS NULL
      THEN NULL
      WHEN s.ingested_at > (SELECT ingested_at FROM last_server_ingest) - INTERVAL 5 SECOND
      THEN NULL
      ELSE s.stream_id IN (
        SELECT
          stream_id
        FROM lookback
        WHERE
          topic = 'streamsim.server-events' AND event_type = 'stream_started'
      )
    END AS reconciled
  FROM sessions_judged AS s
  LEFT JOIN trusted AS t
    USING (topic, kafka_partition, kafka_offset)
  LEFT JOIN cadence AS c
    USING (topic, kafka_partition, kafka_offset)
)
SELECT
  topic::TEXT AS topic,
  kafka_partition::INT AS kafka_partition,
  kafka_offset::BIGINT AS kafka_offset,
  kafka_key::TEXT AS kafka_key,
  event_id::TEXT AS event_id,
  event_key::TEXT AS event_key,
  payload_md5::TEXT AS payload_md5,
  copy::INT AS copy,
  event_type::TEXT AS event_type,
  source::TEXT AS source,
  clock_run::TEXT AS run_id,
  user_id::TEXT AS user_id,
  session_id::TEXT AS session_id,
  emitted_at::TIMESTAMP AS emitted_at,
  DATE_TRUNC('minute', emitted_at)::TIMESTAMP AS emitted_minute,
  DATE_TRUNC('minute', site_arrival)::TIMESTAMP AS site_minute,
  ingested_at::TIMESTAMP AS ingested_at,
  skew_s::DOUBLE AS skew_s,
  parseable::BOOLEAN AS parseable,
  schema_valid::BOOLEAN AS schema_valid,
  required_fields::BOOLEAN AS required_fields,
  accepted_values::BOOLEAN AS accepted_values,
  valid_ranges::BOOLEAN AS valid_ranges,
  unique_event_id::BOOLEAN AS unique_event_id,
  known_video::BOOLEAN AS known_video,
  known_session::BOOLEAN AS known_session,
  timely::BOOLEAN AS timely,
  in_session_order::BOOLEAN AS in_session_order,
  heartbeat_cadence::BOOLEAN AS heartbeat_cadence,
  cadence_gap_from::TIMESTAMP AS cadence_gap_from,
  reconciled::BOOLEAN AS reconciled,
  NOT LIST_CONTAINS(
    [
      parseable, schema_valid, required_fields, accepted_values, valid_ranges,
      unique_event_id, known_video, known_session, timely, in_session_order,
      heartbeat_cadence, reconciled
    ],
    FALSE
  )::BOOLEAN AS passed_all
FROM judged
