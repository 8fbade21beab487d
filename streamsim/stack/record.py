"""The file in which a running `streamsim up` says what it runs, for `streamsim status`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from streamsim.settings import Settings

# The fields that say where a part listens or which cluster it joined.
_ADDRESS_FIELDS = ("host", "address", "bootstrap_servers")


def stack_file(settings: Settings) -> Path:
    return settings.state / "stack.json"


def write_stack_record(settings: Settings, record: dict[str, Any]) -> None:
    """Replace the record whole, so a reader never sees half of one."""
    path = stack_file(settings)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=2))
    temporary.replace(path)


def read_stack_record(settings: Settings) -> dict[str, Any] | None:
    """The record of the run that holds this state folder, or None when none runs (a record
    left by a run that was killed, and so could not remove it, included)."""
    try:
        record = dict(json.loads(stack_file(settings).read_text()))
    except (OSError, ValueError):
        return None
    return record if _alive(record.get("up_pid")) else None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return True  # a record from before runs wrote their pid: trust it, as before
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, in another account
    return True


def addresses(settings: Settings) -> dict[str, dict[str, Any]]:
    """Where each part of this run listens, for commands started from another shell."""
    found: dict[str, dict[str, Any]] = {}
    for section in Settings.model_fields:
        part = getattr(settings, section)
        if isinstance(part, BaseModel):
            fields = [f for f in type(part).model_fields if _is_address(f)]
            if fields:
                found[section] = {f: getattr(part, f) for f in fields}
    return found


def _is_address(field: str) -> bool:
    return field in _ADDRESS_FIELDS or field.endswith("port")


def settings_of_running_stack(settings: Settings, stack: dict[str, Any]) -> Settings:
    """`settings` with the running stack's addresses: `status` and `config` in another shell
    (whose variables may name other ports) still talk to the stack that holds the folder.
    The rest, a token included, stays the caller's."""
    recorded = stack.get("addresses", {})
    updates = {
        section: getattr(settings, section).model_copy(update=values)
        for section, values in recorded.items()
        if section in Settings.model_fields and isinstance(values, dict)
    }
    return settings.model_copy(update=updates)
