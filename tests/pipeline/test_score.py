"""Scoring joins what the checks flagged with the truth; hand-made tables, no stack."""

from __future__ import annotations

import duckdb
import pytest

from streamsim.pipeline.expectations import EXPECTATION_NAMES
from streamsim.pipeline.score import USER_TOPIC, score_connection

pytestmark = pytest.mark.timeout(30)

# (payload_md5, copy, session, emitted second, passed_all, cadence_gap_from second)
MESSAGES = [
    ("clean-1", 1, "s1", 0, True, None),
    ("clean-2", 1, "s1", 10, True, None),
    ("flagged-clean", 1, "s1", 20, False, None),  # no truth names it: a false positive
    ("broken", 1, "s1", 30, False, None),  # a null field, caught
    ("late-and-broken", 1, "s1", 40, False, None),  # out of order and a null field
    ("late", 1, "s1", 50, True, None),  # out of order, missed
    ("after-gap", 1, "s2", 40, False, 10),  # flags the gap of a missing heartbeat
]
# (kind, payload_md5, copy, session, emitted second)
TRUTH = [
    ("null_field", "broken", 1, "s1", 30),
    ("null_field", "late-and-broken", 1, "s1", 40),
    ("out_of_order", "late-and-broken", 1, "s1", 40),
    ("out_of_order", "late", 1, "s1", 50),
    ("missing_heartbeat", None, 1, "s2", 20),
]


def at(second: int | None) -> str | None:
    return None if second is None else f"2026-12-04 12:00:{second:02d}"


@pytest.fixture()
def db() -> duckdb.DuckDBPyConnection:
    db = duckdb.connect()
    db.execute("CREATE SCHEMA quality")
    flags = ", ".join(f"{name} BOOLEAN" for name in EXPECTATION_NAMES)
    db.execute(
        "CREATE TABLE quality.event_checks (topic TEXT, payload_md5 TEXT, copy INT, "
        f"session_id TEXT, emitted_at TIMESTAMP, passed_all BOOLEAN, cadence_gap_from TIMESTAMP, "
        f"{flags})"
    )
    for md5, copy, session, second, passed, gap in MESSAGES:
        cadence = False if gap is not None else None
        order = None if passed or gap is not None else False
        db.execute(
            "INSERT INTO quality.event_checks (topic, payload_md5, copy, session_id, emitted_at, "
            "passed_all, cadence_gap_from, heartbeat_cadence, in_session_order) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [USER_TOPIC, md5, copy, session, at(second), passed, at(gap), cadence, order],
        )
    db.execute("CREATE TABLE quality.compliance (expectation TEXT, checked BIGINT, passed BIGINT)")
    db.execute(
        "CREATE TABLE faults (fault_id TEXT, kind TEXT, session_id TEXT, payload_md5 TEXT, "
        "copy TEXT, emitted_at TIMESTAMP)"
    )
    for number, (kind, fault_md5, copy, session, second) in enumerate(TRUTH):
        db.execute(
            "INSERT INTO faults VALUES (?, ?, ?, ?, ?, ?)",
            [f"f{number}", kind, session, fault_md5, str(copy), at(second)],
        )
    return db


def test_a_fault_is_caught_when_its_message_fails_and_a_missing_beat_by_its_gap(
    db: duckdb.DuckDBPyConnection,
) -> None:
    result = score_connection(db, "faults")

    recall = {kind.kind: (kind.injected, kind.caught) for kind in result.kinds}
    assert recall["missing_heartbeat"] == (1, 1)
    assert recall["null_field"] == (1, 1)


def test_a_message_with_two_faults_counts_for_neither_kind(
    db: duckdb.DuckDBPyConnection,
) -> None:
    result = score_connection(db, "faults")

    recall = {kind.kind: (kind.injected, kind.caught) for kind in result.kinds}
    assert recall["out_of_order"] == (1, 0)  # only the late message that is otherwise clean


def test_false_positives_are_flagged_messages_no_truth_names(
    db: duckdb.DuckDBPyConnection,
) -> None:
    result = score_connection(db, "faults")

    assert (result.clean_messages, result.false_positives) == (4, 1)
    assert result.false_positive_rate == pytest.approx(0.25)
    # The message carrying the missing beat's gap fails heartbeat_cadence rightly.
    assert result.false_positives_by_expectation == {"in_session_order": 1}


def test_with_no_clean_message_there_is_no_false_positive(db: duckdb.DuckDBPyConnection) -> None:
    db.execute("DELETE FROM quality.event_checks WHERE payload_md5 NOT IN ('broken', 'late')")

    result = score_connection(db, "faults")

    assert (result.clean_messages, result.false_positives, result.false_positive_rate) == (0, 0, 0)
