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
