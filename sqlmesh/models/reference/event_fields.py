"""The documented fields of every event type: what schema, required and enum checks read."""

from __future__ import annotations

import typing as t
from datetime import datetime
from pathlib import Path

import pandas as pd

from sqlmesh import ExecutionContext, model
from streamsim.pipeline.expectations import field_rows


@model(
    "reference.event_fields",
    kind="FULL",
    allow_partials=True,
    columns={
        "event_type": "TEXT",
        "field": "TEXT",
        "kind": "TEXT",
        "required": "BOOLEAN",
        "nullable": "BOOLEAN",
        "accepted": "TEXT[]",
    },
    grain=["event_type", "field"],
    description="One row per event type and field, from streamsim.pipeline.expectations "
    "(which mirrors docs/events.md); trait and category enums come from the configured "
    "behaviour model. Type `*` is the envelope any unknown type is judged on.",
    column_descriptions={
        "event_type": "Event type the field belongs to; `*` for types not in the catalogue.",
        "field": "Top-level JSON key.",
        "kind": "JSON type expected: string, number, integer or any.",
        "required": "Whether the key must be present.",
        "nullable": "Whether JSON null is a valid value.",
        "accepted": "The values a text field may take; NULL when any text is fine.",
    },
)
def execute(
    context: ExecutionContext, start: datetime, end: datetime, execution_time: datetime, **_: t.Any
) -> pd.DataFrame:
    model_file = context.var("behaviour_model_file") or None
    return pd.DataFrame(field_rows(Path(model_file) if model_file else None))
