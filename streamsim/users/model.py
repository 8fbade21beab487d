"""The behaviour model as data: loaded from TOML, checked on load, sampled by every user.

The defaults live in `behaviour.toml` beside this module; `docs/behaviour.md` explains them.
Checking happens once, at load, so a user never meets a broken chain mid-session.
"""

from __future__ import annotations

import math
import random
import tomllib
from bisect import bisect_right
from functools import cached_property
from itertools import accumulate
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from streamsim.errors import StreamsimError

DEFAULT_MODEL_FILE = Path(__file__).with_name("behaviour.toml")

PAGE_ACTIONS = ("home", "search", "browse", "next_page")
OPEN_ACTIONS = ("open_video", "next_video", "recommended")
PLAYING_ACTIONS = ("play", "watch", "resume", "seek_forward", "seek_back")
# Everything a viewer can choose to do; `close` ends the session.
ACTIONS = (*PAGE_ACTIONS, *OPEN_ACTIONS, *PLAYING_ACTIONS, "pause", "close")
# A row of the chain per state: the action just done, or what happened to the viewer.
STATES = ("start", *ACTIONS[:-1], "video_end", "gave_up")

# What the screen shows after each state, and which screens each action can start from.
CONTEXT_AFTER = {
    "start": "start",
    **dict.fromkeys(PAGE_ACTIONS, "page"),
    **dict.fromkeys(OPEN_ACTIONS, "opened"),
    **dict.fromkeys(PLAYING_ACTIONS, "playing"),
    "pause": "paused",
    "video_end": "ended",
    "gave_up": "gave_up",
}
ANY_SCREEN = frozenset(CONTEXT_AFTER.values())
NEEDS = {
    "next_page": frozenset({"page"}),
    "open_video": frozenset({"start", "page"}),
    "next_video": frozenset({"playing", "paused", "ended", "gave_up"}),
    "recommended": frozenset({"playing", "paused", "ended", "gave_up"}),
    "play": frozenset({"opened"}),
    "watch": frozenset({"playing"}),
    "pause": frozenset({"playing"}),
    "seek_forward": frozenset({"playing"}),
    "seek_back": frozenset({"playing"}),
    "resume": frozenset({"paused"}),
}
# Outcomes the viewer does not choose: a video can end while playing, a start can fail.
FORCED = {
    **{action: ("video_end",) for action in PLAYING_ACTIONS},
    "play": ("video_end", "gave_up"),
}
SUM_TOLERANCE = 1e-6


class ModelError(StreamsimError):
    """The behaviour file is not a model a user can live by; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogNormal(_Strict):
    """exp(N(ln median, sigma)): the usual shape of human think and watch times."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    sigma: float = Field(gt=0)

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median), self.sigma)

    def cdf(self, x: float) -> float:
        if x <= 0:
            return 0.0
        return 0.5 * (1 + math.erf(math.log(x / self.median) / (self.sigma * math.sqrt(2))))


class Exponential(_Strict):
    dist: Literal["exponential"]
    mean: float = Field(gt=0)

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean)

    def cdf(self, x: float) -> float:
        return 0.0 if x <= 0 else 1.0 - math.exp(-x / self.mean)


class Uniform(_Strict):
    dist: Literal["uniform"]
    low: float = Field(gt=0)
    high: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        return self

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def cdf(self, x: float) -> float:
        if self.high == self.low:
            return float(x >= self.low)
        return min(1.0, max(0.0, (x - self.low) / (self.high - self.low)))


class Constant(_Strict):
    dist: Literal["constant"]
    value: float = Field(gt=0)

    def sample(self, rng: random.Random) -> float:
        return self.value

    def cdf(self, x: float) -> float:
        return float(x >= self.value)


Distribution = Annotated[LogNormal | Exponential | Uniform | Constant, Field(discriminator="dist")]
Probability = Annotated[float, Field(ge=0, le=1)]
Weight = Annotated[float, Field(gt=0)]


class Device(_Strict):
    weight: Weight
    watch_scale: float = Field(default=1.0, gt=0)


class Connection(_Strict):
    weight: Weight
    startup_ms: Distribution


class Category(_Strict):
    weight: Weight
    duration_s: Distribution


class Traits(_Strict):
    patience_s: Distribution
    taste_concentration: float = Field(gt=0)
    countries: dict[str, Weight] = Field(min_length=1)
    devices: dict[str, Device] = Field(min_length=1)
    browsers: dict[str, Weight] = Field(min_length=1)
    connections: dict[str, Connection] = Field(min_length=1)


class Attributes(_Strict):
    seek_forward_s: Distribution
    seek_back_s: Distribution
    results_per_page: int = Field(gt=0)
    follow_taste: Probability
    up_next_same_category: Probability


class PlayerModel(_Strict):
    retry_s: float = Field(gt=0)


class CatalogueModel(_Strict):
    size: int = Field(ge=1)
    seed: int
    zipf_s: float = Field(gt=0)
    min_duration_s: float = Field(gt=0)
    max_duration_s: float = Field(gt=0)
    categories: dict[str, Category] = Field(min_length=1)


class BehaviourModel(_Strict):
    """The whole model; construction fails with every problem named by its place."""

    transitions: dict[str, dict[str, Probability]]
    durations: dict[str, Distribution]
    attributes: Attributes
    player: PlayerModel
    traits: Traits
    catalogue: CatalogueModel

    @model_validator(mode="after")
    def _a_chain_users_can_live_by(self) -> BehaviourModel:
        problems = [*_row_problems(self.transitions), *_duration_problems(self.durations)]
        if not problems:
            problems = _unending_states(self.transitions)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @cached_property
    def chain(self) -> Chain:
        return Chain(self.transitions)


class Chain:
    """The transition rows compiled for sampling: one uniform draw and a bisection a step."""

    def __init__(self, transitions: dict[str, dict[str, float]]) -> None:
        self._rows: dict[str, tuple[tuple[str, ...], list[float]]] = {}
        for state, row in transitions.items():
            targets = tuple(action for action, p in row.items() if p > 0)
            self._rows[state] = (targets, list(accumulate(row[a] for a in targets)))

    def next_action(self, state: str, rng: random.Random) -> str:
        targets, cumulative = self._rows[state]
        index = bisect_right(cumulative, rng.random() * cumulative[-1])
        return targets[min(index, len(targets) - 1)]


def _row_problems(transitions: dict[str, dict[str, float]]) -> list[str]:
    problems = [f"transitions: unknown state {s!r}" for s in transitions if s not in STATES]
    problems += [f"transitions: no row for state {s!r}" for s in STATES if s not in transitions]
    for state, row in transitions.items():
        total = sum(row.values())
        if abs(total - 1.0) > SUM_TOLERANCE:
            problems.append(f"transitions.{state}: probabilities sum to {total:.6g}, not 1")
        for action, p in row.items():
            if action not in ACTIONS:
                problems.append(f"transitions.{state}.{action}: unknown action")
            elif p > 0 and CONTEXT_AFTER.get(state, "") not in NEEDS.get(action, ANY_SCREEN):
                problems.append(f"transitions.{state}.{action}: cannot follow {state!r}")
    return problems


def _duration_problems(durations: dict[str, Any]) -> list[str]:
    needed = [s for s in STATES if s != "start"]
    problems = [f"durations: no distribution for {s!r}" for s in needed if s not in durations]
    problems += [f"durations: unknown state {s!r}" for s in durations if s not in needed]
    return problems


def _unending_states(transitions: dict[str, dict[str, float]]) -> list[str]:
    """States from which no path leads to `close`: a user there would never leave."""
    edges = {
        state: {a for a, p in row.items() if p > 0} | set(FORCED.get(state, ()))
        for state, row in transitions.items()
    }
    ending = {"close"}
    grew = True
    while grew:
        before = len(ending)
        ending |= {state for state, targets in edges.items() if targets & ending}
        grew = len(ending) > before
    return [f"transitions.{s}: no way from here to 'close'" for s in edges if s not in ending]


def load_model(override: Path | None = None) -> BehaviourModel:
    """The default model, with `override`'s tables laid over it when one is named."""
    data = _read(DEFAULT_MODEL_FILE)
    if override is not None:
        data = _overlay(data, _read(override))
    try:
        return BehaviourModel.model_validate(data)
    except ValidationError as error:
        where = override or DEFAULT_MODEL_FILE
        raise ModelError(f"behaviour model {where}: {_describe(error)}") from None


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except OSError as error:
        raise ModelError(f"cannot read behaviour model {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ModelError(f"behaviour model {path} is not valid TOML: {error}") from None


def _overlay(
    base: dict[str, Any], top: dict[str, Any], path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Merge tables, but replace a transition row or a distribution whole."""
    merged = dict(base)
    for key, value in top.items():
        here = (*path, key)
        row = len(here) == 2 and here[0] == "transitions"
        whole = row or not isinstance(value, dict) or "dist" in value
        if not whole and isinstance(merged.get(key), dict):
            merged[key] = _overlay(merged[key], value, here)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        place = ".".join(str(p) for p in problem["loc"] if not str(p).startswith("function-"))
        parts.append(f"{place}: {problem['msg']}" if place else problem["msg"])
    return "; ".join(parts)
