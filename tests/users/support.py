"""Running simulated users fast, against a fake player, with a model tuned for tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from streamsim.clock import SiteClock
from streamsim.users.catalogue import Catalogue
from streamsim.users.faults import FaultKind, FaultOutlet
from streamsim.users.model import BehaviourModel, load_model
from streamsim.users.traits import TraitChoices
from streamsim.users.user import SimulatedUser, Step

from .fake_player import FakePlayer

Event = dict[str, Any]
HEARTBEAT_S = 10.0
DEFAULT = load_model()
CATALOGUE = Catalogue(DEFAULT.catalogue)
# At thousands of site seconds per real second the event loop's own delays are long waits
# in site time; infinitely patient viewers keep those from turning into give-ups.
PATIENT = TraitChoices(patience_s=86_400)
# Fields that come from the clock, not from the user's choices.
TIMING_FIELDS = {"event_id", "emitted_at", "video_start_time_ms", "waited_ms"}


def overlay(tmp_path: Path, text: str) -> BehaviourModel:
    """The default model with `text` (TOML) laid over it."""
    path = tmp_path / "override.toml"
    path.write_text(text)
    return load_model(path)


def new_user(
    seed: int,
    player: FakePlayer,
    events: list[Event],
    *,
    speed: float = 20_000.0,
    model: BehaviourModel = DEFAULT,
    traits: TraitChoices | None = PATIENT,
    on_step: Step | None = None,
    error_factor: float = 0.0,
    faults: FaultOutlet | None = None,
    fault_weights: dict[FaultKind, float] | None = None,
) -> SimulatedUser:
    return SimulatedUser(
        f"u-{seed}",
        seed,
        model=model,
        catalogue=CATALOGUE if model is DEFAULT else Catalogue(model.catalogue),
        clock=SiteClock.starting_now(speed),
        player=player,
        emit=events.append,
        heartbeat_s=HEARTBEAT_S,
        run_id="r1",
        traits=traits,
        on_step=on_step,
        error_factor=error_factor,
        faults=faults,
        fault_weights=fault_weights,
    )


def live(seed: int, player: FakePlayer | None = None, **options: Any) -> list[Event]:
    """One whole session's events."""
    events: list[Event] = []
    asyncio.run(new_user(seed, player or FakePlayer(), events, **options).live())
    return events


def kinds(events: list[Event]) -> list[str]:
    return [e["event_type"] for e in events]
