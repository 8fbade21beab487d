/* Compliance over site time, beside the error factor: the quality dashboard's one table. */
MODEL (
  name quality.compliance,
  kind FULL,
  allow_partials TRUE,
  grain (run_id, minute, expectation, event_type, source),
  audits (
    accepted_range(column := compliance, min_v := 0, max_v := 1),
    accepted_values(column := severity, is_in := ('error', 'warn'))
  ),
  description 'Per run, site-time minute of arrival, expectation, event type and source: how many messages the expectation judged, how many passed, the share, and the error factor in force (from core.settings_timeline). Messages are counted in the minute they arrived by their run''s site clock, so skewed and unparseable ones land where they were received. FULL, rebuilt from quality.event_checks in well under a second.',
  column_descriptions (
    run_id = 'The run whose site clock placed the messages (NULL when no server clock was known yet).',
    minute = 'Site-time minute (UTC) of arrival.',
    expectation = 'The expectation, as named in docs/data-quality.md.',
    severity = 'error or warn, as docs/data-quality.md gives it.',
    event_type = 'event_type as sent (NULL when unreadable).',
    source = 'source as sent (NULL when unreadable).',
    checked = 'Messages the expectation applied to.',
    passed = 'Messages that passed it.',
    failed = 'Messages that failed it (checked - passed).',
    compliance = 'passed / checked, from 0 to 1.',
    error_factor = 'The error factor in force at that minute of the run (applies to users created from then on).'
  )
);

WITH expectations AS (
  SELECT
    *
  FROM (VALUES
    ('parseable'),
    ('schema_valid'),
    ('required_fields'),
    ('accepted_values'),
    ('valid_ranges'),
    ('unique_event_id'),
    ('known_video'),
    ('known_session'),
    ('timely'),
    ('in_session_order'),
    ('heartbeat_cadence'),
    ('reconciled')
  ) AS e(expectation)
), verdicts AS (
  SELECT
    c.run_id,
    c.site_minute AS minute,
    c.event_type,
    c.source,
    e.expectation,
    CASE e.expectation
      WHEN 'parseable'
      THEN c.parseable
      WHEN 'schema_valid'
      THEN c.schema_valid
      WHEN 'required_fields'
      THEN c.required_fields
      WHEN 'accepted_values'
      THEN c.accepted_values
      WHEN 'valid_ranges'
      THEN c.valid_ranges
      WHEN 'unique_event_id'
      THEN c.unique_event_id
      WHEN 'known_video'
      THEN c.known_video
      WHEN 'known_session'
      THEN c.known_session
      WHEN 'timely'
      THEN c.timely
      WHEN 'in_session_order'
      THEN c.in_session_order
      WHEN 'heartbeat_cadence'
      THEN c.heartbeat_cadence
      WHEN 'reconciled'
      THEN c.reconciled
    END AS verdict
  FROM quality.event_checks AS c
  CROSS JOIN expectations AS e
), counted AS (
  SELECT
    run_id,
    minute,
    expectation,
    event_type,
    source,
    COUNT(verdict) AS checked,
    COUNT_IF(verdict) AS passed
  FROM verdicts
  GROUP BY
    ALL
  HAVING
    COUNT(verdict) > 0
)
SELECT
  c.run_id::TEXT AS run_id,
  c.minute::TIMESTAMP AS minute,
  c.expectation::TEXT AS expectation,
  CASE
    WHEN c.expectation IN ('timely', 'in_session_order', 'heartbeat_cadence', 'reconciled')
    THEN 'warn'
    ELSE 'error'
  END::TEXT AS severity,
  c.event_type::TEXT AS event_type,
  c.source::TEXT AS source,
  c.checked::BIGINT AS checked,
  c.passed::BIGINT AS passed,
  (c.checked - c.passed)::BIGINT AS failed,
  (c.passed / c.checked)::DOUBLE AS compliance,
  (
    SELECT
      s.error_factor
    FROM core.settings_timeline AS s
    WHERE
      s.run_id = c.run_id AND s.changed_at <= c.minute + INTERVAL 59 SECOND
    ORDER BY
      s.changed_at DESC
    LIMIT 1
  )::DOUBLE AS error_factor
FROM counted AS c
