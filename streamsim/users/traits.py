"""Who a user is: traits drawn once, at creation, from the model (or fixed by the caller)."""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

from pydantic import BaseModel, ConfigDict, Field

from streamsim.users.model import BehaviourModel


class TraitChoices(BaseModel):
    """Traits a caller may fix instead of letting them be drawn; each one is optional."""

    model_config = ConfigDict(extra="forbid")

    country: str | None = None
    device: str | None = None
    browser: str | None = None
    connection: str | None = None
    patience_s: float | None = Field(default=None, gt=0, le=86_400)
    taste: dict[str, float] | None = Field(
        default=None, description="Weight per category; unnamed categories get none."
    )


@dataclass(frozen=True, slots=True)
class Traits:
    country: str
    device: str
    browser: str
    connection: str
    patience_s: float
    watch_scale: float
    taste: tuple[tuple[str, ...], tuple[float, ...]]  # categories and cumulative weights

    def favourite(self, rng: random.Random) -> str:
        """A category the user likes, in proportion to how much."""
        names, cumulative = self.taste
        index = bisect_right(cumulative, rng.random() * cumulative[-1])
        return names[min(index, len(names) - 1)]

    def describe(self) -> dict[str, object]:
        names, cumulative = self.taste
        weights = [b - a for a, b in zip((0.0, *cumulative), cumulative, strict=False)]
        return {
            "country": self.country,
            "device": self.device,
            "browser": self.browser,
            "connection": self.connection,
            "patience_s": round(self.patience_s, 3),
            "taste": {n: round(w / cumulative[-1], 4) for n, w in zip(names, weights, strict=True)},
        }


class UnknownTrait(ValueError):
    """A fixed trait names a value the model does not know; `field` says which."""

    def __init__(self, field: str, value: object, known: list[str]) -> None:
        super().__init__(f"'{field}' must be one of {', '.join(known)}; got {value!r}")
        self.field = field


def draw_traits(
    model: BehaviourModel,
    categories: tuple[str, ...],
    rng: random.Random,
    fixed: TraitChoices | None = None,
) -> Traits:
    """Draw every trait in a fixed order, so a seed gives the same person whatever is fixed."""
    fixed = fixed or TraitChoices()
    t = model.traits
    country = _choose("traits.country", fixed.country, t.countries, rng)
    device = _choose(
        "traits.device", fixed.device, {k: v.weight for k, v in t.devices.items()}, rng
    )
    browser = _choose("traits.browser", fixed.browser, t.browsers, rng)
    connections = {k: v.weight for k, v in t.connections.items()}
    connection = _choose("traits.connection", fixed.connection, connections, rng)
    patience = t.patience_s.sample(rng)
    drawn_taste = [rng.gammavariate(t.taste_concentration, 1.0) for _ in categories]
    taste = _taste(fixed.taste, categories, drawn_taste)
    return Traits(
        country,
        device,
        browser,
        connection,
        fixed.patience_s or patience,
        t.devices[device].watch_scale,
        taste,
    )


def _choose(field: str, fixed: str | None, weights: dict[str, float], rng: random.Random) -> str:
    drawn = rng.choices(list(weights), list(weights.values()))[0]
    if fixed is None:
        return drawn
    if fixed not in weights:
        raise UnknownTrait(field, fixed, list(weights))
    return fixed


def _taste(
    fixed: dict[str, float] | None, categories: tuple[str, ...], drawn: list[float]
) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """A Dirichlet draw (normalised gammas) unless the caller gave weights of its own."""
    weights = dict(zip(categories, drawn, strict=True))
    if fixed is not None:
        for name, weight in fixed.items():
            if name not in weights:
                raise UnknownTrait("traits.taste", name, list(categories))
            if not weight >= 0:
                raise ValueError(f"'traits.taste.{name}' must be a weight >= 0; got {weight!r}")
        if not sum(fixed.values()) > 0:
            raise ValueError("'traits.taste' needs at least one weight above 0")
        weights = {name: fixed.get(name, 0.0) for name in categories}
    # A draw of all-but-zero gammas is possible with a small alpha; never divide by it.
    if sum(weights.values()) <= 0:
        weights = dict.fromkeys(categories, 1.0)
    names = tuple(weights)
    return names, tuple(accumulate(weights[n] for n in names))
