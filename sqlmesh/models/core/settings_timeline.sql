/* The live settings over site time: what dashboards put beside what the settings caused. */
MODEL (
  name core.settings_timeline,
  kind FULL,
  allow_partials TRUE,
  grain (run_id, changed_at, setting),
  description 'One row per settings_changed event: the change, and every wave setting and the error factor in force from that moment of its run on (until valid_until). A run starts by announcing every setting, so each row of a run knows all of them once its first events are in. FULL: settings changes are few, rebuilding them costs milliseconds.',
  column_descriptions (
    run_id = 'The streamsim up run whose orchestrator made the change.',
    changed_at = 'Site time (UTC) of the change: the event''s emitted_at.',
    valid_until = 'Site time of the next change in the same run; NULL for the latest.',
    setting = 'The setting that changed: max_rate, period_s, floor, error_factor or arrivals.',
    old_value = 'Its value before, as JSON text; NULL at an orchestrator start.',
    new_value = 'Its value from now on, as JSON text.',
    max_rate = 'Peak new users per site second in force from changed_at.',
    period_s = 'Site seconds from peak to peak in force from changed_at.',
    floor = 'Lowest rate of new users per site second in force from changed_at.',
    error_factor = 'Share of broken events of users created from changed_at on (0 to 1).',
    arrivals = 'poisson or even arrivals in force from changed_at.'
  )
);

WITH changes AS (
  SELECT
    run_id,
    emitted_at AS changed_at,
    kafka_offset,
    body ->> '$.setting' AS setting,
    (body -> '$.old_value')::TEXT AS old_value,
    (body -> '$.new_value')::TEXT AS new_value,
    body ->> '$.new_value' AS new_text
  FROM staging.events
  WHERE
    event_type = 'settings_changed' AND source = 'orchestrator' AND NOT emitted_at IS NULL
), in_force AS (
  SELECT
    *,
    LAST_VALUE(CASE WHEN setting = 'max_rate' THEN TRY_CAST(new_text AS DOUBLE) END IGNORE NULLS) OVER run_so_far AS max_rate,
    LAST_VALUE(CASE WHEN setting = 'period_s' THEN TRY_CAST(new_text AS DOUBLE) END IGNORE NULLS) OVER run_so_far AS period_s,
    LAST_VALUE(CASE WHEN setting = 'floor' THEN TRY_CAST(new_text AS DOUBLE) END IGNORE NULLS) OVER run_so_far AS floor,
    LAST_VALUE(CASE WHEN setting = 'error_factor' THEN TRY_CAST(new_text AS DOUBLE) END IGNORE NULLS) OVER run_so_far AS error_factor,
    LAST_VALUE(CASE WHEN setting = 'arrivals' THEN new_text END IGNORE NULLS) OVER run_so_far AS arrivals,
    LEAD(changed_at) OVER (PARTITION BY run_id ORDER BY changed_at, kafka_offset) AS valid_until
  FROM changes
  WINDOW run_so_far AS (
    PARTITION BY run_id
    ORDER BY changed_at, kafka_offset
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
  )
)
SELECT
  run_id::TEXT AS run_id,
  changed_at::TIMESTAMP AS changed_at,
  valid_until::TIMESTAMP AS valid_until,
  setting::TEXT AS setting,
  old_value::TEXT AS old_value,
  new_value::TEXT AS new_value,
  max_rate::DOUBLE AS max_rate,
  period_s::DOUBLE AS period_s,
  floor::DOUBLE AS floor,
  error_factor::DOUBLE AS error_factor,
  arrivals::TEXT AS arrivals
FROM in_force
