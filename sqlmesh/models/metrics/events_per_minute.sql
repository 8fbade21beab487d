/* Event volume over site time: the first chart anyone opens, and the base of volume checks. */
MODEL (
  name metrics.events_per_minute,
  kind FULL,
  allow_partials TRUE,
  grain (minute, event_type, source),
  description 'Events per site-time minute, event type and source, counted once each from staging: under the minute of their emitted_at when it is timely, else under the site minute they arrived (a skewed clock or an unreadable time is not believed, so it cannot stretch the chart over far minutes). Every event counts, valid or not, so totals add up.',
  column_descriptions (
    minute = 'Site-time minute (UTC): of emitted_at when timely, else of arrival (staging.events.arrived_site_at); NULL only when neither is known.',
    event_type = 'Event type as sent.',
    source = 'Emitter kind as sent.',
    events = 'Number of distinct events.'
  )
);

SELECT
  DATE_TRUNC('minute', CASE WHEN timely THEN emitted_at ELSE arrived_site_at END)::TIMESTAMP AS minute,
  event_type::TEXT AS event_type,
  source::TEXT AS source,
  COUNT(*)::BIGINT AS events
FROM staging.events
GROUP BY
  1,
  2,
  3
