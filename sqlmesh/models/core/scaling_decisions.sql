/* Every round of the autoscaler, with the load behind it. */
MODEL (
  name core.scaling_decisions,
  /* Windows follow ingestion; each decision is one event, so a window adds its new rows and a
     re-run upserts the same rows again. */
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key decision_id
  ),
  allow_partials TRUE,
  interval_unit 'hour',
  grain decision_id,
  description 'One row per autoscaler round (scaling_decided event with a valid envelope), whether or not it changed the group''s size.',
  column_descriptions (
    decision_id = 'The event_key of the scaling_decided event.',
    run_id = 'Simulation run.',
    decided_at = 'Site time of the decision.',
    servers = 'Size of the group before the decision.',
    desired_servers = 'Size decided.',
    change = 'desired_servers minus servers: positive scales up, negative scales down, 0 keeps.',
    serving_servers = 'Servers taking new streams at the decision.',
    draining_servers = 'Servers draining at the decision.',
    streams = 'Streams playing on the serving servers.',
    capacity = 'Streams one server holds at most.',
    utilisation = 'Streams over the serving servers'' capacity.',
    target_utilisation = 'Utilisation the autoscaler aims at.',
    reason = 'Why: scale_up, scale_down, within_tolerance, stabilising, at_min, at_max, ... (docs/events.md).',
    ingested_at = 'Real time the sink wrote the event.'
  )
);

SELECT
  event_key::TEXT AS decision_id,
  run_id::TEXT AS run_id,
  emitted_at::TIMESTAMP AS decided_at,
  servers::INT AS servers,
  desired_servers::INT AS desired_servers,
  (desired_servers - servers)::INT AS change,
  serving_servers::INT AS serving_servers,
  draining_servers::INT AS draining_servers,
  streams::INT AS streams,
  capacity::INT AS capacity,
  utilisation::DOUBLE AS utilisation,
  target_utilisation::DOUBLE AS target_utilisation,
  reason::TEXT AS reason,
  ingested_at::TIMESTAMP AS ingested_at
FROM staging.events
WHERE
  ingested_at BETWEEN @arrivals_from(@start_ts, 'fresh', @this_model)
  AND @end_ts::TIMESTAMP
  AND envelope_valid
  AND event_type = 'scaling_decided'
