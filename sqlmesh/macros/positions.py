"""Which playback positions the watch-time arithmetic may read."""

from __future__ import annotations

from sqlglot import exp
from sqlmesh.core.macros import MacroEvaluator

from sqlmesh import macro


@macro()
def position_on_video(
    evaluator: MacroEvaluator, position: exp.Expression, duration: exp.Expression
) -> str:
    """A playback position only when it lies on the video (0 to its length + 1 s, any length
    when the video is unknown): a broken player's -165 s or 1,496 s would turn watch time
    negative or inflate it."""
    at, length = position.sql("duckdb"), duration.sql("duckdb")
    return f"CASE WHEN {at} >= 0 AND {at} <= COALESCE({length} + 1, {at}) THEN {at} END"
