"""The live wave settings: checking a change, keeping it on disk, and choosing them at start.

At start the wave's settings come from three places, latest intent winning: the defaults,
then what the person last set while a run went on (kept in `<state>/orchestrator/config.json`),
then any value set explicitly in `streamsim.toml` or a `STREAMSIM_ORCHESTRATOR__*` variable,
because a value typed for this launch is newer than anything remembered.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from annotated_types import Ge, Gt, Le, Lt
from pydantic import ValidationError

from streamsim.durable import fsync_directory
from streamsim.settings import OrchestratorSettings, WaveSettings

log = logging.getLogger(__name__)

LIVE_FIELDS: tuple[str, ...] = tuple(WaveSettings.model_fields)


@dataclass(frozen=True)
class Refusal:
    """Why one field of a change was refused, in words a person can act on."""

    field: str
    message: str
    allowed: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "allowed": self.allowed}

    def line(self) -> str:
        return f"{self.field}: {self.message} (allowed: {self.allowed})"


class RefusedChange(Exception):
    """A change that would not be applied; nothing of it was."""

    def __init__(self, refusals: list[Refusal]) -> None:
        super().__init__("; ".join(r.line() for r in refusals))
        self.refusals = refusals


def allowed(field: str) -> str:
    """The allowed values of a live field, read from the same bounds that validate it."""
    if field not in WaveSettings.model_fields:
        return "one of " + ", ".join(LIVE_FIELDS)
    info = WaveSettings.model_fields[field]
    choices = get_args(info.annotation)
    if choices and all(isinstance(c, str) for c in choices):
        return "one of " + ", ".join(choices)
    low = high = None
    for bound in info.metadata:
        if isinstance(bound, Ge | Gt):
            low = f"{'>=' if isinstance(bound, Ge) else '>'} {bound_value(bound)}"
        if isinstance(bound, Le | Lt):
            high = f"{'<=' if isinstance(bound, Le) else '<'} {bound_value(bound)}"
    limits = " and ".join(part for part in (low, high) if part)
    if field == "floor":
        limits += " and <= max_rate"
    return f"a number {limits}"


def bound_value(bound: Ge | Gt | Le | Lt) -> str:
    # Each bound keeps its number under its own lower-case name: Ge(ge=0), Le(le=1), ...
    return f"{getattr(bound, type(bound).__name__.lower()):g}"


def apply_change(current: WaveSettings, change: Any, *, whole: bool) -> WaveSettings:
    """The settings after `change`, or RefusedChange naming every field at fault.

    `whole` is PUT: every live field must be given. Otherwise (PATCH) the change is merged
    over the current settings. JSON types are taken strictly: "5" is not a number.
    """
    if not isinstance(change, dict):
        raise RefusedChange([Refusal("body", "must be a JSON object", "an object of settings")])
    unknown = [k for k in change if k not in LIVE_FIELDS]
    problems = [Refusal(k, "is not a live setting", allowed(k)) for k in unknown]
    if whole:
        missing = [k for k in LIVE_FIELDS if k not in change]
        problems += [Refusal(k, "is missing (PUT sets every setting)", allowed(k)) for k in missing]
    if problems:
        raise RefusedChange(problems)
    try:
        return WaveSettings.model_validate({**current.model_dump(), **change}, strict=True)
    except ValidationError as error:
        raise RefusedChange(refusals_of(error, change)) from None


def refusals_of(error: ValidationError, change: dict[str, Any]) -> list[Refusal]:
    refusals = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        if not field:  # the floor-below-peak rule: blame what this change touched
            field = "floor" if "floor" in change or "max_rate" not in change else "max_rate"
        message = problem["msg"].removeprefix("Value error, ")
        refusals.append(Refusal(field, f"{message} (got {change.get(field)!r})", allowed(field)))
    return refusals


def changed_fields(old: WaveSettings, new: WaveSettings) -> list[tuple[str, Any, Any]]:
    return [
        (name, getattr(old, name), getattr(new, name))
        for name in LIVE_FIELDS
        if getattr(old, name) != getattr(new, name)
    ]


class SettingsStore:
    """The live settings on disk, replaced atomically so a crash leaves the old or the new."""

    def __init__(self, state: Path) -> None:
        self.path = state / "orchestrator" / "config.json"

    def load(self) -> dict[str, Any]:
        """What was saved; an unreadable file is reported and ignored, never fatal."""
        try:
            saved = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning("ignoring unreadable saved settings %s: %s", self.path, error)
            return {}
        if not isinstance(saved, dict):
            log.warning("ignoring saved settings %s: not a JSON object", self.path)
            return {}
        return {k: v for k, v in saved.items() if k in LIVE_FIELDS}

    def save(self, wave: WaveSettings) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        with temporary.open("w") as file:
            json.dump(wave.model_dump(), file, indent=2)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self.path)
        fsync_directory(self.path.parent)


def starting_wave(config: OrchestratorSettings, saved: dict[str, Any]) -> WaveSettings:
    """Defaults, overlaid by what was saved, overlaid by what was set explicitly for this start."""
    explicit = {k: getattr(config, k) for k in LIVE_FIELDS if k in config.model_fields_set}
    merged = {**WaveSettings().model_dump(), **saved, **explicit}
    try:
        wave = WaveSettings.model_validate(merged)
    except ValidationError as error:
        log.warning("saved settings do not fit this start (%s); using the configured ones", error)
        wave = WaveSettings.model_validate({k: getattr(config, k) for k in LIVE_FIELDS})
    overridden = sorted(k for k in explicit if k in saved and saved[k] != explicit[k])
    if overridden:
        log.info("explicitly set for this start, over the saved values: %s", overridden)
    return wave
