"""The video catalogue, from the same seed and behaviour model the users draw it from."""

from __future__ import annotations

import typing as t
from datetime import datetime
from pathlib import Path

import pandas as pd

from sqlmesh import ExecutionContext, model
from streamsim.pipeline.expectations import catalogue_rows


@model(
    "reference.videos",
    kind="FULL",
    allow_partials=True,
    columns={"video_id": "TEXT", "category": "TEXT", "duration_s": "DOUBLE", "rank": "INT"},
    grain=["video_id"],
    description="The catalogue every user picks from: rebuilt from the configured behaviour "
    "model (settings.users.model_file), so known_video and valid_ranges judge against the "
    "videos the site really offers.",
    column_descriptions={
        "video_id": "Identifier users and servers send (v00000 is the most popular).",
        "category": "The video's category.",
        "duration_s": "Length of the video in seconds; positions beyond it (+1 s) are invalid.",
        "rank": "Site-wide popularity rank, 1 the most watched.",
    },
)
def execute(
    context: ExecutionContext, start: datetime, end: datetime, execution_time: datetime, **_: t.Any
) -> pd.DataFrame:
    model_file = context.var("behaviour_model_file") or None
    return pd.DataFrame(catalogue_rows(Path(model_file) if model_file else None))
