"""`streamsim bench stack`: its options, its steps and its arrival rate."""

from __future__ import annotations

import argparse

import pytest

from streamsim.bench.stack import (
    arrival_rate,
    check_options,
    creation_rate,
    peaks,
    settings_for,
)
from streamsim.cli import parser
from streamsim.errors import StreamsimError

pytestmark = pytest.mark.timeout(30)


def options(*argv: str) -> argparse.Namespace:
    return parser().parse_args(["bench", "stack", *argv])


def test_the_defaults_are_the_example_wave() -> None:
    args = options()

    assert (args.peak, args.period, args.speed, args.minutes) == (100.0, 60.0, 1.0, 10.0)
    assert not args.superset


@pytest.mark.parametrize(
    ("argv", "refusal"),
    [
        (["--error-factor", "1.5"], "--error-factor must be from 0 to 1"),
        (["--peak", "0"], "--peak must be a positive number"),
        (["--minutes", "0.1", "--interval", "5"], "at least 4 samples"),
        (["--ramp", "--ramp-factor", "1"], "--ramp-factor above 1"),
    ],
)
def test_bad_options_are_refused_before_a_stack_starts(argv: list[str], refusal: str) -> None:
    with pytest.raises(StreamsimError, match=refusal):
        check_options(options(*argv))


def test_a_ramp_multiplies_the_peak_at_each_step() -> None:
    assert peaks(options("--peak", "10", "--ramp", "--ramp-steps", "4")) == [10, 20, 40, 80]
    assert peaks(options("--peak", "10")) == [10]


def test_the_watchers_settings_are_the_stacks_own() -> None:
    env = {
        "STREAMSIM_STATE_DIR": "/tmp/somewhere",
        "STREAMSIM_KAFKA__PORT": "41234",
        "STREAMSIM_ORCHESTRATOR__PORT": "41235",
        "STREAMSIM_CONFIG": "/dev/null",
        "PATH": "/bin",
    }

    settings = settings_for(env, "run-7")

    assert settings.kafka.bootstrap == "127.0.0.1:41234"
    assert settings.orchestrator.port == 41235
    assert settings.run_id == "run-7"
    assert str(settings.state_dir) == "/tmp/somewhere"


def test_the_arrival_rate_is_that_of_the_last_half() -> None:
    samples: list[dict[str, float | None]] = [
        {"at_s": 10.0 * t, "produced": 100 * t if t < 5 else 500 + 300 * (t - 5)} for t in range(11)
    ]
    samples[7]["produced"] = None

    assert arrival_rate(samples) == pytest.approx(30.0)


def test_the_creation_rate_comes_from_the_orchestrators_counts() -> None:
    samples: list[dict[str, object]] = [
        {"at_s": 0.0, "orchestrator": {"counts": {"arrivals": 10, "created": 10}}},
        {"at_s": 5.0, "orchestrator": None},
        {"at_s": 10.0, "orchestrator": {"counts": {"arrivals": 110, "created": 60}}},
    ]

    assert creation_rate(samples) == 5.0
    assert creation_rate(samples, "arrivals") == 10.0
    assert creation_rate(samples[:2]) is None
