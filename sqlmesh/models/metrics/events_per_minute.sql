/* Event volume over site time: the first chart anyone opens, and the base of volume checks. */
MODEL (
  name metrics.events_per_minute,
  kind FULL,
  allow_partials TRUE,
  grain (minute, event_type, source),
  description 'Events per site-time minute, event type and source, counted once each from staging. Events whose emitted_at could not be read are counted under a NULL minute so totals still add up.',
  column_descriptions (
    minute = 'Site-time minute (UTC) the events were emitted in; NULL when emitted_at was unreadable.',
    event_type = 'Event type as sent.',
    source = 'Emitter kind as sent.',
    events = 'Number of distinct events.'
  )
);

SELECT
  DATE_TRUNC('minute', emitted_at)::TIMESTAMP AS minute,
  event_type::TEXT AS event_type,
  source::TEXT AS source,
  COUNT(*)::BIGINT AS events
FROM staging.events
GROUP BY
  1,
  2,
  3
