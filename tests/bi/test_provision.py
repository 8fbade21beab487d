"""What provisioning compares, so a second run finds nothing to write."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamsim.bi.catalog import Column, Dataset, with_metrics
from streamsim.bi.provision import dashboard_differs, dataset_body, dataset_body_now

DATASET = with_metrics(
    Dataset(
        "metrics",
        "top_videos",
        "One row per video.",
        (Column("video_id", "VARCHAR", "Video."), Column("plays", "BIGINT", "Plays.")),
    )
)


def held_by_superset(description: str) -> dict[str, Any]:
    columns = [
        {"id": 1, "column_name": "video_id", "type": "VARCHAR", "description": "Video."},
        {"id": 2, "column_name": "plays", "type": "BIGINT", "description": "Plays."},
    ]
    metrics = [
        {
            "id": 10 + n,
            "metric_name": m.name,
            "expression": m.expression,
            "description": m.description,
        }
        for n, m in enumerate(DATASET.metrics)
    ]
    return {"description": description, "columns": columns, "metrics": metrics}


@pytest.mark.timeout(10)
def test_a_dataset_superset_already_holds_as_wanted_needs_no_write() -> None:
    current = held_by_superset("One row per video.")

    assert dataset_body(DATASET, current) == dataset_body_now(current)


@pytest.mark.timeout(10)
def test_a_changed_model_description_is_written_keeping_column_ids() -> None:
    current = held_by_superset("An older description.")

    wanted = dataset_body(DATASET, current)

    assert wanted != dataset_body_now(current)
    assert [c["id"] for c in wanted["columns"]] == [1, 2]
    assert [m["id"] for m in wanted["metrics"]] == [10, 11]


@pytest.mark.timeout(10)
def test_keys_superset_adds_to_a_dashboards_metadata_are_no_change() -> None:
    ours = {"refresh_frequency": 30, "color_scheme": "supersetColors"}
    wanted = {
        "dashboard_title": "Product",
        "slug": "product",
        "published": True,
        "position_json": json.dumps({"ROOT_ID": {}}),
        "json_metadata": json.dumps(ours),
    }
    current = {**wanted, "json_metadata": json.dumps({**ours, "positions": {}, "filters": []})}

    assert not dashboard_differs(current, wanted)
    assert dashboard_differs({**current, "json_metadata": json.dumps({})}, wanted)
