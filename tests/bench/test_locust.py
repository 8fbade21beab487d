"""`streamsim bench locust`: both kinds of users walk the same model against the same site."""

from __future__ import annotations

import pytest

from streamsim.bench.locust import run
from streamsim.cli import parser
from streamsim.errors import StreamsimError

pytestmark = pytest.mark.timeout(180)


def test_a_short_run_measures_both_sides_on_the_same_model() -> None:
    options = parser().parse_args(
        ["bench", "locust", "--users", "50", "--seconds", "4", "--warmup", "1", "--speed", "20"]
    )

    result = run(None, options)

    ours, theirs = result["streamsim"], result["locust"]
    assert ours["actions"] > 20 and theirs["actions"] > 20
    # The same chain and durations: the two take actions at a like pace.
    assert 0.33 < theirs["actions"] / ours["actions"] < 3
    assert theirs["failures"] == 0
    assert ours["events"] > ours["actions"]  # ours also emits what it does
    assert result["locust_over_streamsim"] > 0


def test_nonsense_sizes_are_refused() -> None:
    options = parser().parse_args(["bench", "locust", "--users", "0"])

    with pytest.raises(StreamsimError, match="--users"):
        run(None, options)
