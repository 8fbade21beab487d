/* Warns (never blocks) when messages fail an expectation: with an error factor above zero
   they do, by design; the compliance tables and Dagster checks carry the figures. */
AUDIT (
  name passes_expectation,
  blocking FALSE
);

SELECT
  *
FROM @this_model
WHERE
  @expectation = FALSE
