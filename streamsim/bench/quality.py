"""How well the data-quality checks catch the faults the users inject, on the real stack.

Runs `streamsim up` (Kafka, Ray, the sink, Dagster) in a state folder of its own on free
loopback ports, with the error factor given, for the given real duration; the run's drain
builds the warehouse. Then the checks are scored against the truth topic's record of what
was broken (see streamsim.pipeline.score).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from streamsim.errors import StreamsimError
from streamsim.pipeline.score import score
from streamsim.settings import load_settings
from streamsim.stack.isolated import ignored_settings, isolated_env

DESCRIPTION = "recall per fault kind and false-positive rate of the quality checks"


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--error-factor", type=float, default=0.1, help="share of bad events")
    parser.add_argument("--duration", type=float, default=90.0, help="real seconds to run")
    parser.add_argument("--speed", type=float, default=10.0, help="site seconds per second")
    parser.add_argument("--max-rate", type=float, default=3.0, help="peak users per site s")
    parser.add_argument("--seed", type=int, default=11, help="users' seed")
    parser.add_argument("--keep", type=Path, help="run in this state folder and keep it")


def stack_env(state: Path, error_factor: float, max_rate: float, seed: int) -> dict[str, str]:
    """The environment of a stack of its own: state folder, free ports, the wave and factor."""
    return isolated_env(
        state,
        {
            "ORCHESTRATOR__ERROR_FACTOR": error_factor,
            "ORCHESTRATOR__MAX_RATE": max_rate,
            "ORCHESTRATOR__PERIOD_S": 600,
            "USERS__SEED": seed,
            # Four servers keep the load what two shared cores carry (as the e2e test).
            "SERVERS__MAX_SERVERS": 4,
            # Dashboards are not what this run measures; Superset would only take a core.
            "BI__ENABLED": "false",
        },
    )


def run_stack(state: Path, env: dict[str, str], duration_s: float, speed: float) -> str:
    """`streamsim up` for `duration_s`; its output, or an error with it when it failed."""
    command = [
        str(Path(sys.executable).parent / "streamsim"),
        "up",
        *("--duration", str(duration_s), "--speed", str(speed)),
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration_s + 600
    )
    if done.returncode != 0:
        # `up` says what went wrong on stderr, in one line; its last output says how far it got.
        said = "\n".join([*done.stdout.splitlines()[-15:], *done.stderr.splitlines()[-15:]])
        raise StreamsimError(
            f"the measured run failed (streamsim up exited {done.returncode}); its last words:"
            f"\n{said}\nits logs are in {state / 'logs'} (keep them with --keep DIR)"
        )
    return done.stdout


def say_ignored(names: list[str]) -> None:
    """Name the caller's settings the measured stack runs without, rather than drop them."""
    if names:
        print(
            f"the measured stack has settings of its own; ignoring {', '.join(names)}"
            " (and any streamsim.toml here)",
            file=sys.stderr,
        )


def check_positive(options: argparse.Namespace, names: tuple[str, ...]) -> None:
    """Refuse the first of these options that is zero or less, naming its flag."""
    for name in names:
        value = getattr(options, name)
        if value <= 0:
            flag = name.replace("_", "-")
            raise StreamsimError(f"--{flag} must be a positive number, not {value:g}")


def check_stack_options(options: argparse.Namespace, positive: tuple[str, ...]) -> None:
    """What every bench that starts a stack refuses before starting it: the error factor,
    the options that must be positive, and a --keep that is not a folder."""
    if not 0 <= options.error_factor <= 1:
        raise StreamsimError(f"--error-factor must be from 0 to 1, not {options.error_factor:g}")
    check_positive(options, positive)
    if options.keep is not None and options.keep.exists() and not options.keep.is_dir():
        raise StreamsimError(f"--keep {options.keep} is not a folder")


def check_options(options: argparse.Namespace) -> None:
    """Refuse what `up` would refuse only after a minute of starting the stack."""
    check_stack_options(options, ("duration", "speed"))
    if options.max_rate < 0:
        raise StreamsimError(f"--max-rate must be 0 or more, not {options.max_rate:g}")


def run(settings: Any, options: argparse.Namespace) -> dict[str, Any]:
    check_options(options)
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as scratch:
        state = options.keep or Path(scratch) / "state"
        env = stack_env(state, options.error_factor, options.max_rate, options.seed)
        say_ignored(ignored_settings())
        print(
            f"running a stack for {options.duration:g} s at error factor "
            f"{options.error_factor:g}, then scoring its checks (a few minutes) ...",
            file=sys.stderr,
            flush=True,
        )
        started = time.monotonic()
        run_stack(state, env, options.duration, options.speed)
        took = time.monotonic() - started
        result = score(load_settings(state_dir=state)).as_dict()
    return {
        "error_factor": options.error_factor,
        "duration_s": options.duration,
        "speed": options.speed,
        "run_s": round(took, 1),
        **result,
    }
