"""Scoring joins what the checks flagged with the truth; hand-made tables, no stack."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pytest

from streamsim.pipeline.expectations import EXPECTATION_NAMES
from streamsim.pipeline.score import USER_TOPIC, KindScore, Score, score_connection

pytestmark = pytest.mark.timeout(30)

# (payload_md5, copy, session, emitted second, passed_all, cadence_gap_from second), in
# Kafka offset order within one partition keyed by session.
MESSAGES = [
    ("clean-1", 1, "s1", 0, True, None),
    ("clean-2", 1, "s1", 10, True, None),
    ("flagged-clean", 1, "s1", 20, False, None),  # no truth names it: a false positive
    ("broken", 1, "s1", 30, False, None),  # a null field, caught
    ("late-and-broken", 1, "s1", 40, False, None),  # out of order and a null field
    ("late", 1, "s1", 35, True, None),  # out of order, missed though the one before shows it
    ("skewed", 1, "s1", 9000, False, None),  # clock skew, caught
    ("late-after-skewed", 1, "s1", 45, True, None),  # out of order: nothing can show it
    ("after-gap", 1, "s2", 40, False, 10),  # flags the gap of a missing heartbeat
]
UNTIMELY = {"skewed"}
# (kind, payload_md5, copy, session, emitted second)
TRUTH = [
    ("null_field", "broken", 1, "s1", 30),
    ("null_field", "late-and-broken", 1, "s1", 40),
    ("out_of_order", "late-and-broken", 1, "s1", 40),
    ("out_of_order", "late", 1, "s1", 35),
    ("clock_skew_future", "skewed", 1, "s1", 50),
    ("out_of_order", "late-after-skewed", 1, "s1", 45),
    ("missing_heartbeat", None, 1, "s2", 20),
    ("missing_heartbeat", None, 1, "s2", 50),  # nothing of its session comes after it
]


def at(second: int | None) -> str | None:
    if second is None:
        return None
    return f"{datetime(2026, 12, 4, 12) + timedelta(seconds=second):%Y-%m-%d %H:%M:%S}"


@pytest.fixture()
def db() -> duckdb.DuckDBPyConnection:
    db = duckdb.connect()
    db.execute("CREATE SCHEMA quality")
    flags = ", ".join(f"{name} BOOLEAN" for name in EXPECTATION_NAMES)
    db.execute(
        "CREATE TABLE quality.event_checks (topic TEXT, kafka_partition INT, "
        "kafka_offset BIGINT, kafka_key TEXT, user_id TEXT, event_type TEXT, payload_md5 TEXT, "
        "copy INT, "
        f"session_id TEXT, emitted_at TIMESTAMP, passed_all BOOLEAN, cadence_gap_from TIMESTAMP, "
        f"{flags})"
    )
    for offset, (md5, copy, session, second, passed, gap) in enumerate(MESSAGES):
        cadence = False if gap is not None else None
        order = None if passed or gap is not None else False
        db.execute(
            "INSERT INTO quality.event_checks (topic, kafka_partition, kafka_offset, kafka_key, "
            "event_type, payload_md5, copy, session_id, emitted_at, passed_all, "
            "cadence_gap_from, heartbeat_cadence, in_session_order, timely, parseable) "
            "VALUES (?, 0, ?, ?, 'heartbeat', ?, ?, ?, ?, ?, ?, ?, ?, ?, TRUE)",
            [
                USER_TOPIC,
                offset,
                session,
                md5,
                copy,
                session,
                at(second),
                passed,
                at(gap),
                cadence,
                order,
                md5 not in UNTIMELY,
            ],
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
    assert recall["missing_heartbeat"] == (2, 1)
    assert recall["null_field"] == (1, 1)


def test_a_message_with_two_faults_counts_for_neither_kind(
    db: duckdb.DuckDBPyConnection,
) -> None:
    result = score_connection(db, "faults")

    recall = {kind.kind: (kind.injected, kind.caught) for kind in result.kinds}
    assert recall["out_of_order"] == (2, 0)  # only the late messages that are otherwise clean


def test_a_miss_no_check_could_see_is_set_apart_with_its_reason(
    db: duckdb.DuckDBPyConnection,
) -> None:
    kinds = {kind.kind: kind for kind in score_connection(db, "faults").kinds}

    late = kinds["out_of_order"]
    assert late.undetectable == {
        "the message it was sent after has no trusted time (unreadable or skewed)": 1
    }
    assert (late.detectable, late.detectable_recall) == (1, 0.0)
    beat = kinds["missing_heartbeat"]
    assert beat.undetectable == {"no valid message of its session after it shows the gap": 1}
    assert (beat.detectable, beat.detectable_recall) == (1, 1.0)


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


def test_a_kind_with_nothing_to_measure_has_no_recall_rather_than_a_perfect_one() -> None:
    every_miss_unseeable = KindScore(
        "missing_heartbeat", injected=3, landed=0, caught=0, undetectable={"no later": 3}
    )
    shown = Score([every_miss_unseeable], clean_messages=0, false_positives=0).as_dict()

    assert shown["recall"] == {"missing_heartbeat": 0.0}
    assert shown["recall_detectable"] == {"missing_heartbeat": None}
