"""The file in which a running `streamsim up` says what it runs, for `streamsim status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamsim.settings import Settings


def stack_file(settings: Settings) -> Path:
    return settings.state / "stack.json"


def write_stack_record(settings: Settings, record: dict[str, Any]) -> None:
    """Replace the record whole, so a reader never sees half of one."""
    path = stack_file(settings)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=2))
    temporary.replace(path)


def read_stack_record(settings: Settings) -> dict[str, Any] | None:
    """The record of the run that holds this state folder, or None when none runs."""
    try:
        return dict(json.loads(stack_file(settings).read_text()))
    except (OSError, ValueError):
        return None
