"""quality.messages judges each run's new messages against those it kept, not a rescan."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streamsim.pipeline.project import QUALITY_MODELS
from streamsim.pipeline.warehouse import open_context, run_models
from streamsim.settings import Settings

from .conftest import Lake, lake_row
from .test_quality_models import LakeBuilder, play, send_all, server_clock

# Two runs of every model: about 30 s on a quiet machine, minutes on a loaded one.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EARLIER = datetime.now(UTC) - timedelta(minutes=20)


def message(offset: int, body: dict[str, Any], ingested_at: datetime) -> dict[str, Any]:
    """A lake row whose exact bytes are `body`, so two rows can share them."""
    row = lake_row(body.get("event_id"), offset=offset, ingested_at=ingested_at)
    return {**row, "body": json.dumps(body)}


def judged(settings: Settings) -> dict[int, tuple[int, bool | None]]:
    """Offset -> (copy, unique_event_id), as quality.messages holds them now."""
    with open_context(settings) as context:
        frame = context.fetchdf(
            "SELECT kafka_offset, copy, unique_event_id FROM quality.messages ORDER BY 1"
        )
    return {
        int(row["kafka_offset"]): (int(row["copy"]), row["unique_event_id"])
        for row in frame.to_dict("records")
    }


def test_copies_and_repeated_ids_are_numbered_across_runs_as_one_rebuild_would(
    settings: Settings, lake: Lake
) -> None:
    first = json.loads(lake_row("e-1")["body"])
    repeated = {**json.loads(lake_row("e-2")["body"]), "position_s": 5.0}
    lake.write([message(4, first, EARLIER), message(6, repeated, EARLIER)])
    run_models(settings)
    assert judged(settings) == {4: (1, True), 6: (1, True)}

    now = datetime.now(UTC)
    lake.write(
        [
            # The same bytes again: a re-send, the second copy.
            message(9, first, now),
            # Another message with e-2's id: not unique.
            message(10, {**repeated, "position_s": 6.0}, now),
            # The same bytes as offset 6 but from before it: offset 6 becomes the second copy.
            message(2, repeated, now),
        ]
    )
    run_models(settings, QUALITY_MODELS)

    assert judged(settings) == {
        2: (1, True),
        4: (1, True),
        6: (2, False),
        9: (2, False),
        10: (1, False),
    }


VERDICTS = (
    "session_id",
    "known_session",
    "in_session_order",
    "heartbeat_cadence",
    "reconciled",
    "timely",
    "passed_all",
    "ROUND(skew_s, 3) AS skew_s",
    "site_minute",
)
Verdicts = dict[tuple[int, int], dict[str, Any]]


def event_checks(settings: Settings) -> tuple[Verdicts, Verdicts]:
    """The user messages' verdicts as the runs left them, and as one judgement of the whole
    lake at once gives them, by partition and offset."""
    select = f"SELECT kafka_partition, kafka_offset, {', '.join(VERDICTS)} FROM"
    users = "WHERE topic = 'streamsim.user-events'"
    with open_context(settings) as context:
        kept = context.fetchdf(f"{select} quality.event_checks {users}")
        whole = context.render("quality.event_checks", start="2024-01-01", end=datetime.now(UTC))
        rebuilt = context.fetchdf(f"{select} ({whole.sql('duckdb')}) {users}")
    return _by_offset(kept), _by_offset(rebuilt)


def _by_offset(frame: Any) -> Verdicts:
    rows = frame.to_dict("records")
    return {(int(r.pop("kafka_partition")), int(r.pop("kafka_offset"))): r for r in rows}


def test_a_late_arrival_rewrites_the_verdicts_of_its_session_judged_hours_before(
    settings: Settings,
) -> None:
    # Site second 0 arrived four hours ago: the first messages lie outside the second run's
    # window, so only the session's key brings them back into it.
    lake = LakeBuilder(settings, ingested_0=datetime.now(UTC) - timedelta(hours=4))
    server_clock(lake, 600)
    session = play(lake, "opened-late", 0)
    start = session.pop("start")
    send_all(lake, session)
    send_all(lake, play(lake, "other", 60, partition=1), partition=1)
    lake.write("first")
    run_models(settings)
    before, _ = event_checks(settings)
    late = {k for k, row in before.items() if row["session_id"] == "opened-late"}
    assert {before[k]["known_session"] for k in late} == {False}

    lake.rows.clear()
    now_s = int((datetime.now(UTC) - lake.ingested_0).total_seconds()) - 60
    server_clock(lake, now_s, from_s=now_s - 30)
    lake.send(start, now_s)  # the session's start, held back for hours
    lake.write("second")
    run_models(settings, QUALITY_MODELS)

    kept, rebuilt = event_checks(settings)
    assert {kept[k]["known_session"] for k in late} == {True}
    assert kept == rebuilt
