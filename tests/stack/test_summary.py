"""The run summary: emitted against landed, duplicates and quarantine, for one run only.

Messages are told apart by their Kafka coordinates: a row read twice by the sink has the
same topic, partition and offset, and is a duplicate; a row at another offset is another
message, whatever its event id.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamsim.events.topics import TRUTH_TOPIC
from streamsim.lake import EVENT_SCHEMA, QUARANTINE_SCHEMA, TRUTH_SCHEMA, TRUTH_TEXT_FIELDS
from streamsim.settings import Settings, load_settings
from streamsim.stack.summary import UNREADABLE, RunSummary, summarise

RUN_STARTED = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


_offsets = itertools.count()


def lake_row(
    event_id: str | None, event_type: str | None, run_id: str, offset: int | None = None
) -> dict[str, Any]:
    envelope = {
        "event_id": event_id,
        "event_type": event_type,
        "schema_version": "1",
        "emitted_at": "2026-12-04T10:00:05.000Z",
        "source": "user",
        "run_id": run_id,
        "user_id": "u1",
        "session_id": "s1",
    }
    return {
        **envelope,
        "body": json.dumps(envelope),
        "topic": "streamsim.user-events",
        "kafka_partition": 0,
        "kafka_offset": next(_offsets) if offset is None else offset,
        "ingested_at": RUN_STARTED + timedelta(minutes=1),
    }


def write_lake(settings: Settings, rows: list[dict[str, Any]], name: str) -> None:
    folder = settings.lake_dir / "events" / "event_date=2026-12-04" / "event_hour=10"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA), folder / f"{name}.parquet")


def write_quarantine(settings: Settings, ingested: list[datetime]) -> None:
    folder = settings.lake_dir / "quarantine" / "ingest_date=2026-12-04"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "raw": b'{"event_type": "heart',
            "reason": "not JSON",
            "topic": "streamsim.user-events",
            "kafka_partition": 0,
            "kafka_offset": offset,
            "kafka_key": b"s1",
            "ingested_at": at,
        }
        for offset, at in enumerate(ingested)
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA), folder / "q.parquet")


def ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n}" for n in range(count)]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A run r1 whose lake holds re-read messages, a run r2 beside it, and some quarantine."""
    settings = load_settings(state_dir=tmp_path, run_id="r1")
    lake = [lake_row(i, "heartbeat", "r1") for i in ids("hb", 4)]
    lake += [lake_row(i, "session_started", "r1") for i in ids("ss", 2)]
    lake += [lake_row(i, "session_ended", "r1") for i in ids("se", 1)]
    lake += lake[:2]  # the sink read these two messages twice: the same offsets again
    lake += [lake_row(None, "heartbeat", "r1")]  # no event id: still a message of its own
    write_lake(settings, lake, "r1")
    other_run = [lake_row(i, "heartbeat", "r2") for i in ids("r2-hb", 3)]
    write_lake(settings, other_run * 3, "r2")
    # Two quarantined while the run ran, one left over from before it began.
    before = RUN_STARTED - timedelta(hours=1)
    write_quarantine(settings, [before, RUN_STARTED, RUN_STARTED + timedelta(minutes=2)])
    return settings


EMITTED = Counter({"heartbeat": 7, "session_started": 2, "session_ended": 2})


def test_summarise_counts_this_runs_messages_once_each(settings: Settings) -> None:
    summary = summarise(settings, EMITTED, RUN_STARTED)

    assert summary.emitted == dict(EMITTED)
    assert summary.landed == {"heartbeat": 5, "session_started": 2, "session_ended": 1}


def test_the_same_event_sent_twice_is_two_messages_and_no_type_is_counted_missing(
    tmp_path: Path,
) -> None:
    """A duplicate sent on purpose, and a message with no type, as the sink files them."""
    settings = load_settings(state_dir=tmp_path, run_id="r1")
    sent_twice = [lake_row("a", "heartbeat", "r1"), lake_row("a", "heartbeat", "r1")]
    write_lake(
        settings, [*sent_twice, lake_row("b", None, "r1"), lake_row("c", "heartbeet", "r1")], "r1"
    )

    summary = summarise(
        settings, Counter({"heartbeat": 2, "(missing)": 1, "heartbeet": 1}), RUN_STARTED
    )

    assert summary.landed == {"heartbeat": 2, "(missing)": 1, "heartbeet": 1}
    assert summary.duplicates == {}
    assert summary.lost_total == 0


def test_an_event_sent_again_for_a_killed_server_is_one_message_however_often_it_landed(
    tmp_path: Path,
) -> None:
    """e1 reached the broker before its server died and was sent again; e2 had not."""
    settings = load_settings(state_dir=tmp_path, run_id="r1")
    rows = [lake_row("e1", "stream_heartbeat", "r1"), lake_row("e1", "stream_heartbeat", "r1")]
    rows += [lake_row("e2", "stream_heartbeat", "r1"), lake_row("e3", "stream_heartbeat", "r1")]
    write_lake(settings, rows, "r1")

    summary = summarise(
        settings, Counter({"stream_heartbeat": 3}), RUN_STARTED, resent_ids=["e1", "e2"]
    )

    assert summary.landed == {"stream_heartbeat": 3}
    assert summary.duplicates == {"stream_heartbeat": 1}
    assert summary.lost_total == 0
    assert summary.as_json()["resent"] == 2
    assert any("2 events a killed server had not seen settled" in n for n in summary.notes)


def test_summarise_counts_the_extra_copies_in_the_lake_as_duplicates(settings: Settings) -> None:
    summary = summarise(settings, EMITTED, RUN_STARTED)

    assert summary.duplicates == {"heartbeat": 2}


def test_summarise_counts_quarantine_that_arrived_while_the_run_ran(settings: Settings) -> None:
    summary = summarise(settings, EMITTED, RUN_STARTED)

    assert summary.quarantined == {UNREADABLE: 2}


def test_summarise_without_quarantine_reports_none(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, run_id="r1")
    write_lake(settings, [lake_row("a", "heartbeat", "r1")], "r1")

    summary = summarise(settings, Counter({"heartbeat": 1}), RUN_STARTED)

    assert summary.quarantined == {}
    assert summary.lost_total == 0


def test_lost_total_is_what_neither_landed_nor_was_quarantined(settings: Settings) -> None:
    summary = summarise(settings, EMITTED, RUN_STARTED)

    assert summary.lost_total == 11 - 8 - 2


def test_lost_is_counted_per_event_type() -> None:
    summary = RunSummary(
        emitted={"heartbeat": 10, "session_ended": 3},
        landed={"heartbeat": 9, "session_ended": 3, "page_viewed": 1},
        duplicates={},
        quarantined={},
    )

    assert summary.lost == {"heartbeat": 1, "page_viewed": -1, "session_ended": 0}
    assert summary.lost_total == 0


def test_the_lost_column_adds_up_to_lost_total(settings: Settings) -> None:
    summary = summarise(settings, EMITTED, RUN_STARTED)

    assert sum(summary.lost.values()) == summary.lost_total


def test_as_json_holds_every_count_and_writes_as_it_reads(tmp_path: Path) -> None:
    # An emitter that sends bytes nobody can parse counts them as unreadable, as the sink does.
    summary = RunSummary(
        emitted={"heartbeat": 4, UNREADABLE: 1},
        landed={"heartbeat": 3},
        duplicates={"heartbeat": 1},
        quarantined={UNREADABLE: 1},
    )

    as_json = summary.as_json()
    summary.write_json(tmp_path / "out" / "summary.json")

    assert as_json == {
        "emitted": {"heartbeat": 4, UNREADABLE: 1},
        "landed": {"heartbeat": 3},
        "duplicates": {"heartbeat": 1},
        "quarantined": {UNREADABLE: 1},
        "lost": {"heartbeat": 1, UNREADABLE: 0},
        "lost_total": 1,
        "notes": [],
    }
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == as_json


def test_the_table_has_a_line_per_type_and_the_totals_last() -> None:
    summary = RunSummary({"heartbeat": 4, "session_ended": 1}, {"heartbeat": 3}, {}, {})

    lines = summary.table().splitlines()

    assert [line.split()[0] for line in lines[2:4]] == ["heartbeat", "session_ended"]
    assert lines[-1].split() == ["total", "5", "3", "0", "0", "2"]


def test_more_landed_than_counted_is_explained_not_called_a_loss() -> None:
    # A server killed after its last count report: its last events landed uncounted.
    summary = RunSummary({"stream_heartbeat": 10}, {"stream_heartbeat": 12}, {}, {})

    assert summary.lost == {"stream_heartbeat": -2}
    assert len(summary.notes) == 1
    assert "2 more events landed than their emitters counted" in summary.notes[0]
    assert RunSummary({"heartbeat": 3}, {"heartbeat": 3}, {}, {}).notes == []


def test_events_a_killed_emitter_had_not_seen_confirmed_are_named_beside_the_loss() -> None:
    summary = RunSummary(
        {"settings_changed": 6},
        {"settings_changed": 5},
        {},
        {},
        unconfirmed={"settings_changed": 1},
    )

    assert summary.lost_total == 1
    assert summary.as_json()["unconfirmed"] == {"settings_changed": 1}
    assert summary.notes == [
        "1 events were counted by emitters killed before Kafka confirmed them; any of them "
        "missing from the lake died with their process (settings_changed 1)"
    ]


def write_truth(settings: Settings, kinds: list[str], run_id: str = "r1") -> None:
    folder = settings.lake_dir / "truth" / "ingest_date=2026-12-04"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            **dict.fromkeys(TRUTH_TEXT_FIELDS),
            "run_id": run_id,
            "kind": kind,
            "topic": TRUTH_TOPIC.name,
            "kafka_partition": 0,
            "kafka_offset": offset,
            "ingested_at": RUN_STARTED + timedelta(minutes=1),
        }
        for offset, kind in enumerate(kinds)
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=TRUTH_SCHEMA), folder / f"{run_id}.parquet")


def test_summarise_sets_the_faults_injected_beside_the_truth_that_landed(
    settings: Settings,
) -> None:
    write_truth(settings, ["not_json", "not_json", "duplicate_send"])
    write_truth(settings, ["not_json"], run_id="r2")
    injected = Counter({"not_json": 2, "duplicate_send": 1, "missing_heartbeat": 1})

    summary = summarise(settings, EMITTED, RUN_STARTED, injected)

    assert summary.faults == dict(injected)
    assert summary.truth_landed == {"not_json": 2, "duplicate_send": 1}
    assert summary.truth_lost_total == 1
    assert summary.as_json()["faults"]["truth_lost_total"] == 1
    fault_lines = summary.table().split("fault kind")[1].splitlines()
    assert [line.split()[0] for line in fault_lines[2:5]] == [
        "duplicate_send",
        "missing_heartbeat",
        "not_json",
    ]
    assert fault_lines[-1].split() == ["total", "4", "3"]


def test_quarantined_truth_is_counted_apart_from_the_events(settings: Settings) -> None:
    folder = settings.lake_dir / "quarantine" / "ingest_date=2026-12-04"
    row = {
        "raw": b"not a record",
        "reason": "not_json",
        "topic": TRUTH_TOPIC.name,
        "kafka_partition": 0,
        "kafka_offset": 0,
        "kafka_key": b"s1",
        "ingested_at": RUN_STARTED + timedelta(minutes=1),
    }
    table = pa.Table.from_pylist([row, row], schema=QUARANTINE_SCHEMA)  # read twice
    pq.write_table(table, folder / "truth.parquet")

    summary = summarise(settings, EMITTED, RUN_STARTED)

    assert summary.quarantined == {UNREADABLE: 2}
    assert summary.truth_unreadable == 1
    assert any("fault-truth" in note for note in summary.notes)


def test_a_quarantined_message_read_twice_is_one_message_and_one_duplicate(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path, run_id="r1")
    write_quarantine(settings, [RUN_STARTED, RUN_STARTED])
    folder = settings.lake_dir / "quarantine" / "ingest_date=2026-12-04"
    table = pq.read_table(folder / "q.parquet").to_pylist()
    again = [{**row, "kafka_offset": 0} for row in table]
    pq.write_table(pa.Table.from_pylist(again, schema=QUARANTINE_SCHEMA), folder / "q.parquet")

    summary = summarise(settings, Counter({UNREADABLE: 1}), RUN_STARTED)

    assert summary.quarantined == {UNREADABLE: 1}
    assert summary.duplicates == {UNREADABLE: 1}
    assert summary.lost_total == 0
