"""The behaviour model: users follow its chain and distributions, and bad files are refused."""

from __future__ import annotations

import asyncio
import math
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from streamsim.users.model import ACTIONS, LogNormal, ModelError, load_model

from .fake_player import FakePlayer
from .support import DEFAULT, Event, new_user, overlay

USERS = 1200


def walk_many_users() -> tuple[Counter[tuple[str, str]], dict[str, list[float]]]:
    """Every (state, chosen action) step and every drawn duration of USERS whole sessions."""
    steps: Counter[tuple[str, str]] = Counter()
    durations: dict[str, list[float]] = defaultdict(list)

    def record(state: str, action: str, duration: float) -> None:
        steps[state, action] += 1
        durations[action].append(duration)

    async def run_all() -> None:
        events: list[Event] = []
        users = [new_user(s, FakePlayer(), events, on_step=record) for s in range(USERS)]
        await asyncio.gather(*(user.live() for user in users))

    asyncio.run(run_all())
    return steps, durations


@pytest.fixture(scope="module")
def walked() -> tuple[Counter[tuple[str, str]], dict[str, list[float]]]:
    return walk_many_users()


@pytest.mark.timeout(120)
def test_transition_frequencies_match_the_configured_probabilities(
    walked: tuple[Counter[tuple[str, str]], dict[str, list[float]]],
) -> None:
    """Each cell's count is Binomial(n, p) given its row's n visits; a correct chain stays
    within 5 standard deviations (plus 1 for discreteness) of n*p in every cell: about a
    6e-7 chance per cell of a false alarm. Cells with p = 0 must never occur."""
    steps, _ = walked
    visits: Counter[str] = Counter()
    for (state, action), count in steps.items():
        if action in ACTIONS:  # video_end and gave_up happen to users; they are not chosen
            visits[state] += count
    assert sum(visits.values()) > 20_000
    assert min(visits[s] for s in ("start", "home", "play", "watch", "pause", "video_end")) > 300
    for state, row in DEFAULT.transitions.items():
        n = visits[state]
        for action in ACTIONS:
            p, seen = row.get(action, 0.0), steps[state, action]
            bound = 5 * math.sqrt(n * p * (1 - p)) + 1
            assert abs(seen - n * p) <= bound, f"{state} -> {action}: {seen} of {n}, p={p}"


def ks_statistic(samples: list[float], cdf: LogNormal) -> float:
    ordered = sorted(samples)
    n = len(ordered)
    return max(
        max(abs((i + 1) / n - cdf.cdf(x)), abs(i / n - cdf.cdf(x))) for i, x in enumerate(ordered)
    )


@pytest.mark.parametrize("action", ["home", "watch", "pause", "search"])
@pytest.mark.timeout(120)
def test_durations_users_draw_follow_their_distributions(
    walked: tuple[Counter[tuple[str, str]], dict[str, list[float]]], action: str
) -> None:
    """Kolmogorov-Smirnov: a sample of n from the configured distribution has D above
    1.95/sqrt(n) with probability about 0.001."""
    samples = walked[1][action]
    distribution = DEFAULT.durations[action]
    assert isinstance(distribution, LogNormal)
    assert len(samples) > 500
    assert ks_statistic(samples, distribution) < 1.95 / math.sqrt(len(samples))


def test_the_default_model_loads_and_describes_every_state() -> None:
    model = load_model()

    assert model.chain.next_action("start", __import__("random").Random(1)) in ACTIONS
    assert set(model.durations) == set(model.transitions) - {"start"}


def test_an_override_file_replaces_a_row_whole_and_keeps_the_rest(tmp_path: Path) -> None:
    model = overlay(tmp_path, "[transitions.home]\nclose = 1.0\n[player]\nretry_s = 5.0\n")

    assert model.transitions["home"] == {"close": 1.0}
    assert model.player.retry_s == 5.0
    assert model.transitions["watch"] == DEFAULT.transitions["watch"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("[transitions.home]\nclose = 0.5\n", "transitions.home: probabilities sum to 0.5"),
        ("[transitions.home]\ndance = 1.0\n", "transitions.home.dance: unknown action"),
        ("[transitions.home]\npause = 1.0\n", "transitions.home.pause: cannot follow 'home'"),
        ("[transitions.lobby]\nclose = 1.0\n", "unknown state 'lobby'"),
        ("[transitions.home]\nsearch = 1.0\n[transitions.search]\nhome = 1.0\n", "no way"),
        ("[transitions.home]\nclose = 1.5\n", "less than or equal to 1"),
        ('[durations]\nhome = { dist = "lognormal", median = -2, sigma = 1 }\n', "median"),
        ('[durations]\nhome = { dist = "constant", value = 0 }\n', "durations.home"),
        ('[durations]\nhome = { dist = "gamma", k = 2 }\n', "durations.home"),
        ("[catalogue]\nzipf_s = 0\n", "catalogue.zipf_s"),
        ("[traits.devices]\nphone = { weight = 0 }\n", "traits.devices.phone.weight"),
        ("[player]\nretry_s = 2\nsnooze = 1\n", "player.snooze"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_a_broken_model_file_is_refused_with_the_place_named(
    tmp_path: Path, override: str, message: str
) -> None:
    with pytest.raises(ModelError, match="behaviour model") as refused:
        overlay(tmp_path, override)

    assert message in str(refused.value)


def test_a_missing_model_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"cannot read behaviour model .*nowhere\.toml"):
        load_model(tmp_path / "nowhere.toml")
