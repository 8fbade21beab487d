"""Scoring the checks against the truth: what share of injected faults they caught, and how
many clean messages they flagged.

The truth (`truth.injected_faults`) names each faulty message by the MD5 of its bytes and
its copy number; a fault is caught when that message fails at least one expectation. A
missing heartbeat has no message: it is caught when a cadence flag in its session covers
its time. Everything is read from a warehouse file the pipeline built, read-only.
"""

from __future__ import annotations

import glob
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb

from streamsim.lake import truth_glob
from streamsim.pipeline.expectations import EXPECTATION_NAMES
from streamsim.settings import Settings

USER_TOPIC = "streamsim.user-events"

# One row per fault (the sink may land a record twice); {source} is the model or the files.
_TRUTH = """
CREATE TEMP TABLE truth AS
SELECT
  fault_id::TEXT AS fault_id,
  kind::TEXT AS kind,
  session_id::TEXT AS session_id,
  payload_md5::TEXT AS payload_md5,
  TRY_CAST(copy AS INT) AS copy,
  emitted_at::TIMESTAMP AS emitted_at
FROM {source}
QUALIFY ROW_NUMBER() OVER (PARTITION BY fault_id) = 1
"""
# A late message or an extra beat can also carry a fault of its own bytes; any check that
# catches the one would be credited to both, so such messages are left out of every kind's
# recall and every kind is scored on faults that are alone on their message.
_ALONE = """
CREATE TEMP TABLE alone AS
SELECT * FROM truth
QUALIFY payload_md5 IS NULL OR COUNT(*) OVER (PARTITION BY payload_md5, copy) = 1
"""
_NO_TRUTH = (
    "(SELECT NULL AS kind, NULL AS session_id, NULL AS payload_md5, NULL AS copy, "
    "NULL AS emitted_at, NULL AS fault_id WHERE FALSE)"
)

# Every user message with what a neighbour needs: whether it is valid on its own, and the
# message before it by offset among the first copies of its Kafka key (its session).
_KEYED = f"""
CREATE TEMP TABLE keyed AS
SELECT
  *,
  LAG(kafka_offset) OVER keyed AS before_offset,
  LAG(timely) OVER keyed AS before_timely,
  LAG(emitted_at) OVER keyed AS before_emitted_at,
  LAG(parseable) OVER keyed AS before_parseable,
  LEAD(kafka_offset) OVER keyed AS after_offset
FROM (
  SELECT
    *,
    COALESCE(kafka_key, session_id) AS session_key,
    NOT LIST_CONTAINS(
      [parseable, schema_valid, required_fields, accepted_values, valid_ranges,
       unique_event_id, known_video],
      FALSE
    ) AS valid_alone
  FROM quality.event_checks
  WHERE topic = '{USER_TOPIC}' AND copy = 1
)
WINDOW keyed AS (PARTITION BY kafka_partition, session_key ORDER BY kafka_offset)
"""

_CAUGHT = """
CREATE TEMP TABLE verdicts AS
SELECT
  t.*,
  CASE
    WHEN t.kind = 'missing_heartbeat'
    THEN EXISTS (
      SELECT 1 FROM quality.event_checks AS c
      WHERE c.session_id = t.session_id AND c.heartbeat_cadence = FALSE
        AND c.cadence_gap_from < t.emitted_at AND t.emitted_at <= c.emitted_at
    )
    ELSE EXISTS (
      SELECT 1 FROM quality.event_checks AS c
      WHERE c.payload_md5 = t.payload_md5 AND c.copy = t.copy AND NOT c.passed_all
    )
  END AS caught,
  t.kind = 'missing_heartbeat' OR EXISTS (
    SELECT 1 FROM quality.event_checks AS c
    WHERE c.payload_md5 = t.payload_md5 AND c.copy = t.copy
  ) AS landed,
  CAST(NULL AS TEXT) AS undetectable
FROM alone AS t
WHERE t.kind IS NOT NULL
"""

# Why a missed fault could not be seen, from its neighbours (docs/data-quality.md): a late
# message or an extra beat is shown only by the message just before it; a missing beat only
# by the play events around its gap, with nothing there that could have been that beat.
_SEQUENCE_REASONS = """
SELECT
  v.fault_id,
  CASE
    WHEN v.kind = 'out_of_order' AND k.before_offset IS NULL
    THEN 'nothing of its session before it'
    WHEN v.kind = 'out_of_order' AND k.before_timely IS NOT TRUE
    THEN 'the message it was sent after has no trusted time (unreadable or skewed)'
    WHEN v.kind = 'out_of_order' AND k.before_emitted_at <= k.emitted_at
    THEN 'the message it was sent after is no later (same millisecond, or another session)'
    WHEN v.kind = 'extra_heartbeat' AND k.before_parseable IS FALSE
    THEN 'the real beat before it is unreadable'
    WHEN v.kind = 'extra_heartbeat' AND EXISTS (
      SELECT 1 FROM keyed AS o
      WHERE o.user_id = k.user_id AND o.session_key <> k.session_key
        AND o.event_type = 'heartbeat' AND o.emitted_at = k.emitted_at
    )
    THEN 'the real beat went under another session id: the two cannot be told apart'
  END AS reason
FROM verdicts AS v
JOIN keyed AS k ON k.payload_md5 = v.payload_md5 AND v.copy = 1
WHERE NOT v.caught AND v.kind IN ('out_of_order', 'extra_heartbeat')
"""
_GAP_REASONS = """
WITH gaps AS (
  SELECT
    v.fault_id,
    v.session_id,
    (SELECT ARG_MAX(k.kafka_offset, k.emitted_at) FROM keyed AS k
     WHERE k.session_key = v.session_id AND k.valid_alone AND k.timely
       AND k.emitted_at < v.emitted_at) AS gap_start,
    (SELECT ARG_MIN(k.kafka_offset, k.emitted_at) FROM keyed AS k
     WHERE k.session_key = v.session_id AND k.valid_alone AND k.timely
       AND k.emitted_at >= v.emitted_at) AS gap_end
  FROM verdicts AS v
  WHERE NOT v.caught AND v.kind = 'missing_heartbeat'
)
SELECT
  g.fault_id,
  CASE
    WHEN g.gap_end IS NULL THEN 'no valid message of its session after it shows the gap'
    WHEN EXISTS (
      SELECT 1 FROM keyed AS k
      WHERE k.session_key = g.session_id AND NOT (k.valid_alone AND k.timely IS TRUE)
        AND (k.kafka_offset > g.gap_start AND k.kafka_offset < g.gap_end
             OR k.kafka_offset = e.after_offset)
    )
    THEN 'a rejected message in its gap could have been the beat'
    WHEN e.event_type NOT IN (
      'heartbeat', 'playback_paused', 'video_ended', 'video_skipped', 'playback_seeked'
    )
    THEN 'the play ended at the gap (stream lost or restarted): no position shows it'
  END AS reason
FROM gaps AS g
LEFT JOIN keyed AS e ON e.session_key = g.session_id AND e.kafka_offset = g.gap_end
"""
_REASONS = """
UPDATE verdicts SET undetectable = r.reason FROM reasons AS r
WHERE verdicts.fault_id = r.fault_id
"""

_PER_KIND = """
SELECT
  kind,
  COUNT(*) AS injected,
  COUNT_IF(landed) AS landed,
  COUNT_IF(caught) AS caught,
  LIST(undetectable) FILTER (WHERE NOT caught AND undetectable IS NOT NULL) AS reasons
FROM verdicts
GROUP BY kind
ORDER BY kind
"""

# Clean: a user message no truth record names. A clean message carrying a missing
# heartbeat's gap is flagged rightly, so it is not a false positive; the total and the
# breakdown by expectation both read this one table, so they always agree.
_CLEAN = f"""
CREATE TEMP TABLE clean AS
SELECT
  c.*,
  NOT c.passed_all AND NOT EXISTS (
    SELECT 1 FROM truth AS t
    WHERE t.kind = 'missing_heartbeat' AND t.session_id = c.session_id
      AND c.cadence_gap_from < t.emitted_at AND t.emitted_at <= c.emitted_at
  ) AS false_positive
FROM quality.event_checks AS c
WHERE c.topic = '{USER_TOPIC}'
  AND NOT EXISTS (
    SELECT 1 FROM truth AS t WHERE t.payload_md5 = c.payload_md5 AND t.copy = c.copy
  )
"""

_COMPLIANCE = f"""
SELECT
  COUNT(*) AS messages,
  COUNT_IF(passed_all) AS passed_all,
  COUNT_IF(NOT EXISTS (
    SELECT 1 FROM truth AS t WHERE t.payload_md5 = c.payload_md5 AND t.copy = c.copy
  )) AS truly_clean
FROM quality.event_checks AS c
WHERE c.topic = '{USER_TOPIC}'
"""


@dataclass(frozen=True)
class KindScore:
    kind: str
    injected: int
    landed: int
    caught: int
    # Missed faults no check could see, by the reason (a revealing neighbour was broken too).
    undetectable: dict[str, int] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        return self.caught / self.injected if self.injected else 1.0

    @property
    def detectable(self) -> int:
        return self.injected - sum(self.undetectable.values())

    @property
    def detectable_recall(self) -> float:
        """Caught over the faults that could be seen: the figure the goal of 0.99 is about."""
        return self.caught / self.detectable if self.detectable else 1.0


@dataclass(frozen=True)
class Score:
    kinds: list[KindScore]
    clean_messages: int
    false_positives: int
    false_positives_by_expectation: dict[str, int] = field(default_factory=dict)
    user_messages: int = 0
    measured_clean_share: float = 1.0
    true_clean_share: float = 1.0
    compliance: dict[str, float] = field(default_factory=dict)

    @property
    def false_positive_rate(self) -> float:
        return self.false_positives / self.clean_messages if self.clean_messages else 0.0

    def as_dict(self) -> dict[str, Any]:
        # null where there was nothing to measure: 0 of 0 is no evidence of a recall of 1.
        return {
            "recall": {k.kind: _share(k.caught, k.injected) for k in self.kinds},
            "recall_detectable": {k.kind: _share(k.caught, k.detectable) for k in self.kinds},
            "injected": {k.kind: k.injected for k in self.kinds},
            "detectable": {k.kind: k.detectable for k in self.kinds},
            "caught": {k.kind: k.caught for k in self.kinds},
            "landed": {k.kind: k.landed for k in self.kinds},
            "undetectable": {k.kind: k.undetectable for k in self.kinds if k.undetectable},
            "clean_user_messages": self.clean_messages,
            "false_positives": self.false_positives,
            "false_positive_rate": round(self.false_positive_rate, 6),
            "false_positives_by_expectation": self.false_positives_by_expectation,
            "user_messages": self.user_messages,
            "measured_clean_share": round(self.measured_clean_share, 4),
            "true_clean_share": round(self.true_clean_share, 4),
            "compliance_per_expectation": self.compliance,
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def score(settings: Settings) -> Score:
    """Score the checks in the serving copy against the truth.

    The truth is read from `truth.injected_faults` when the warehouse has it, else from the
    truth files of the lake directly.
    """
    with duckdb.connect(str(settings.serving_path), read_only=True) as db:
        return score_connection(db, _truth_source(db, settings))


def _truth_source(db: duckdb.DuckDBPyConnection, settings: Settings) -> str:
    tables = db.execute(
        "SELECT 1 FROM information_schema.tables "
        "WHERE table_schema = 'truth' AND table_name = 'injected_faults'"
    ).fetchall()
    if tables:
        return "truth.injected_faults"
    files = sorted(glob.glob(truth_glob(settings.lake_dir), recursive=True))
    if not files:
        return _NO_TRUTH
    listed = ", ".join(f"'{name}'" for name in files)
    return (
        "(SELECT * REPLACE (TIMEZONE('UTC', TRY_CAST(emitted_at AS TIMESTAMPTZ))::TIMESTAMP "
        f"AS emitted_at) FROM read_parquet([{listed}], union_by_name = TRUE))"
    )


def score_connection(db: duckdb.DuckDBPyConnection, truth_source: str) -> Score:
    db.execute(_TRUTH.format(source=truth_source))
    db.execute(_ALONE)
    kinds = _kinds(db)
    db.execute(_CLEAN)
    counts = ", ".join(f"COUNT_IF(false_positive AND {name} = FALSE)" for name in EXPECTATION_NAMES)
    # COUNT_IF over no rows is NULL in DuckDB; at error factor 1 no message is clean.
    row = db.execute(f"SELECT COUNT(*), COUNT_IF(false_positive), {counts} FROM clean").fetchone()
    assert row is not None  # an aggregate always has its one row
    clean, flagged, *per_expectation = [int(count or 0) for count in row]
    by_expectation = dict(zip(EXPECTATION_NAMES, per_expectation, strict=True))
    messages, passed, truly_clean = db.execute(_COMPLIANCE).fetchone() or (0, 0, 0)
    return Score(
        kinds,
        int(clean),
        int(flagged),
        {name: count for name, count in by_expectation.items() if count},
        int(messages),
        passed / messages if messages else 1.0,
        truly_clean / messages if messages else 1.0,
        _compliance(db),
    )


def _kinds(db: duckdb.DuckDBPyConnection) -> list[KindScore]:
    db.execute(_KEYED)
    db.execute(_CAUGHT)
    db.execute(f"CREATE TEMP TABLE reasons AS {_SEQUENCE_REASONS}")
    db.execute(f"INSERT INTO reasons {_GAP_REASONS}")
    db.execute(_REASONS)
    return [
        KindScore(str(kind), int(injected), int(landed), int(caught), dict(Counter(reasons or [])))
        for kind, injected, landed, caught, reasons in db.execute(_PER_KIND).fetchall()
    ]


def _compliance(db: duckdb.DuckDBPyConnection) -> dict[str, float]:
    rows = db.execute(
        "SELECT expectation, SUM(passed) / SUM(checked) FROM quality.compliance "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {str(name): round(float(share), 6) for name, share in rows}
