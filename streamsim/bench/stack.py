"""Whether the whole stack holds a wave: lag, freshness, and what each part costs.

Starts `streamsim up` in a state folder of its own on free loopback ports (Superset off), at
the wave given, and samples it from outside every few seconds (see `_stack_watch`). The
verdict: the sink's lag stays bounded over the last half of the run, and no serving copy
published an event set whose p95 freshness passed the goal. `--ramp` keeps one stack and
raises the peak through the orchestrator's config API, one step per `--minutes`, until the
lag grows without bound; the last step that held is the highest sustained peak.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from streamsim.bench._stack_watch import StackWatch
from streamsim.bench._verdict import freshness_verdict, highest_sustained, lag_verdict
from streamsim.bench.quality import check_stack_options, stack_env
from streamsim.errors import StreamsimError
from streamsim.orchestrator.client import set_config
from streamsim.settings import Settings, load_settings
from streamsim.stack.record import read_stack_record

DESCRIPTION = "whole stack at a wave: lag, freshness, CPU and memory per part; --ramp for the most"

START_TIMEOUT_S = 600.0  # Kafka, Dagster, Ray and the simulators, on a busy machine
STOP_TIMEOUT_S = 900.0  # the run's drain: the sink's catch-up, then a last pipeline pass
START_ATTEMPTS = 3  # a port found free may be taken by another process before up binds it


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--peak", type=float, default=100.0, help="new users per site second")
    parser.add_argument("--period", type=float, default=60.0, help="site seconds peak to peak")
    parser.add_argument("--speed", type=float, default=1.0, help="site seconds per second")
    parser.add_argument("--error-factor", type=float, default=0.0, help="share of bad events")
    parser.add_argument("--minutes", type=float, default=10.0, help="of the run (ramp: a step)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--ramp", action="store_true", help="raise the peak until lag grows")
    parser.add_argument("--ramp-factor", type=float, default=2.0, help="peak growth per step")
    parser.add_argument("--ramp-steps", type=int, default=6, help="steps of the ramp at most")
    parser.add_argument("--superset", action="store_true", help="also run Superset")
    parser.add_argument("--seed", type=int, default=11, help="users' seed")
    parser.add_argument("--keep", type=Path, help="run in this state folder and keep it")


def check_options(options: argparse.Namespace) -> None:
    """Refuse what would only fail after minutes of starting a stack."""
    check_stack_options(options, ("peak", "period", "speed", "minutes", "interval"))
    if options.ramp and (options.ramp_factor <= 1 or options.ramp_steps < 1):
        raise StreamsimError("--ramp needs --ramp-factor above 1 and --ramp-steps of 1 or more")
    if options.minutes * 60 < 4 * options.interval:
        raise StreamsimError("--minutes must allow at least 4 samples of --interval")


def peaks(options: argparse.Namespace) -> list[float]:
    """The peak of each step: one without --ramp, else rising by --ramp-factor."""
    steps = options.ramp_steps if options.ramp else 1
    return [round(options.peak * options.ramp_factor**step, 3) for step in range(steps)]


def bench_env(state: Path, options: argparse.Namespace) -> dict[str, str]:
    env = stack_env(state, options.error_factor, options.peak, options.seed)
    # The quality bench caps the servers and slows the wave; this one runs the stack as shipped.
    env.pop("STREAMSIM_SERVERS__MAX_SERVERS", None)
    env["STREAMSIM_ORCHESTRATOR__PERIOD_S"] = str(options.period)
    env["STREAMSIM_BI__ENABLED"] = "true" if options.superset else "false"
    return env


def settings_for(env: dict[str, str], run_id: str) -> Settings:
    """The stack's settings as its children see them: read from the environment it got."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return load_settings(run_id=run_id)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(settings: Any, options: argparse.Namespace) -> dict[str, Any]:
    check_options(options)
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as scratch:
        state = options.keep or Path(scratch) / "state"
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                return run_once(state, options)
            except PortTaken as taken:
                if attempt == START_ATTEMPTS:
                    raise StreamsimError(str(taken)) from None
                progress(f"a free port was taken before the stack bound it; new ports: {taken}")
    raise AssertionError("unreachable")


class PortTaken(StreamsimError):
    """Another process took one of the ports picked for the stack before `up` bound it."""


def run_once(state: Path, options: argparse.Namespace) -> dict[str, Any]:
    state.mkdir(parents=True, exist_ok=True)
    env = bench_env(state, options)
    summary = state.parent / f"{state.name}-summary.json"
    up = start_stack(env, state, options, summary)
    try:
        result = measure(up, env, state, options)
    except StreamsimError as error:
        # Ports are picked free, then bound a moment later: a busy machine's Ray may win one.
        if "is taken by" in str(error):
            raise PortTaken(str(error)) from None
        raise
    finally:
        stop_stack(up)
    result["run_summary"] = read_summary(summary)
    return result


def start_stack(
    env: dict[str, str], state: Path, options: argparse.Namespace, summary: Path
) -> subprocess.Popen[bytes]:
    steps = len(peaks(options))
    # The bench stops the stack itself after its last sample; the slack keeps `up` from
    # starting its drain while the last step is still being sampled.
    duration = steps * options.minutes * 60 + 120
    command = [
        str(Path(sys.executable).parent / "streamsim"),
        "up",
        *("--duration", f"{duration:g}", "--speed", f"{options.speed:g}"),
        *("--summary-json", str(summary)),
    ]
    log = (state.parent / f"{state.name}-up.out").open("ab")
    progress(f"starting a stack in {state} (a minute or more) ...")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until_running(up: subprocess.Popen[bytes], settings: Settings) -> str:
    """The run id once `up` says every part started; an error with its log if it failed."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        record = read_stack_record(settings) or {}
        if record.get("state") == "running":
            return str(record["run_id"])
        if up.poll() is not None:
            raise StreamsimError(f"the stack did not start; {last_words(settings.state)}")
        time.sleep(1.0)
    raise StreamsimError(f"the stack took over {START_TIMEOUT_S:.0f} s to start")


def measure(
    up: subprocess.Popen[bytes], env: dict[str, str], state: Path, options: argparse.Namespace
) -> dict[str, Any]:
    run_id = wait_until_running(up, settings_for(env, "adhoc"))
    settings = settings_for(env, run_id)
    started_load = os.getloadavg()
    watch = StackWatch(settings, up.pid)
    try:
        steps = []
        for number, peak in enumerate(peaks(options)):
            if number:
                set_config(settings.orchestrator, [f"max_rate={peak}"])
            steps.append(run_step(watch, up, peak, options))
            if options.ramp and not steps[-1]["lag"]["bounded"]:
                break
    finally:
        watch.close()
    return report(options, steps, started_load)


def run_step(
    watch: StackWatch, up: subprocess.Popen[bytes], peak: float, options: argparse.Namespace
) -> dict[str, Any]:
    watch.restart_clock()
    samples = []
    step_s = options.minutes * 60
    while time.monotonic() - watch.began < step_s and up.poll() is None:
        time.sleep(max(0.0, options.interval - (time.monotonic() - watch.began) % options.interval))
        samples.append(watch.sample())
        progress(describe(peak, samples))
    if up.poll() is not None:
        raise StreamsimError(f"the stack stopped mid-run; {last_words(watch.settings.state)}")
    return step_result(watch, peak, samples)


def step_result(watch: StackWatch, peak: float, samples: list[dict[str, Any]]) -> dict[str, Any]:
    wall_s = samples[-1]["at_s"] if samples else 0.0
    rate = arrival_rate(samples)
    return {
        "peak": peak,
        "wall_s": wall_s,
        "events_per_s": round(rate, 1),
        "users_arriving_per_s": creation_rate(samples, "arrivals"),
        "users_created_per_s": creation_rate(samples),
        "lag": lag_verdict(watch.lag_points, rate),
        "freshness": freshness_verdict(watch.publications),
        "parts": watch.meter.summary(wall_s),
        "samples": samples,
    }


def arrival_rate(samples: list[dict[str, Any]]) -> float:
    """Events per second into Kafka over the last half of the samples (the judged part)."""
    known = [s for s in samples if s["produced"] is not None]
    if len(known) < 2:
        return 0.0
    first = next(s for s in known if s["at_s"] >= known[-1]["at_s"] / 2)
    span = known[-1]["at_s"] - first["at_s"]
    return (known[-1]["produced"] - first["produced"]) / span if span > 0 else 0.0


def creation_rate(samples: list[dict[str, Any]], count: str = "created") -> float | None:
    """Per second over the step, one of the orchestrator's counts: `arrivals` (what the wave
    asked for) or `created` (users the service made); the gap says the wave was not held."""
    counted = [
        (s["at_s"], s["orchestrator"]["counts"].get(count, 0))
        for s in samples
        if s["orchestrator"] is not None
    ]
    if len(counted) < 2 or counted[-1][0] <= counted[0][0]:
        return None
    return round((counted[-1][1] - counted[0][1]) / (counted[-1][0] - counted[0][0]), 2)


def report(
    options: argparse.Namespace, steps: list[dict[str, Any]], started_load: tuple[float, ...]
) -> dict[str, Any]:
    setup = {
        "peak": options.peak,
        "period_s": options.period,
        "speed": options.speed,
        "error_factor": options.error_factor,
        "minutes": options.minutes,
        "interval_s": options.interval,
        "superset": options.superset,
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in started_load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    if options.ramp:
        return {"setup": setup, "highest_sustained_peak": highest_sustained(steps), "steps": steps}
    step = steps[0]
    held = step["lag"]["bounded"] and step["freshness"]["met"]
    return {"setup": setup, "held": held, **step}


def describe(peak: float, samples: list[dict[str, Any]]) -> str:
    last = samples[-1]
    lag = sum(last["lag"].values()) if last["lag"] else "?"
    fresh = [p["p95_s"] for s in samples for p in s["freshness"]]
    worst = f"{max(fresh):.0f} s" if fresh else "none yet"
    return (
        f"  [{last['at_s']:6.0f} s] peak {peak:g}: users {last['active_users']}, "
        f"in Kafka {last['produced']}, lag {lag}, worst p95 {worst}, load {last['load_1m']}"
    )


def stop_stack(up: subprocess.Popen[bytes]) -> None:
    """Ask `up` to stop cleanly (it drains first) and wait; it ends every part it started.

    SIGTERM, as a service manager would stop it (the end-to-end test of this bench reads
    the run summary that only the drain writes).
    """
    if up.poll() is None:
        progress("stopping the stack (it drains first) ...")
        up.send_signal(signal.SIGTERM)
    try:
        up.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        up.kill()  # its children die with it (they are started with a parent-death signal)
        up.wait(timeout=60)


def read_summary(path: Path) -> dict[str, Any] | None:
    """Totals of `up`'s own account of the run: what was emitted, landed and lost."""
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    totals = {
        name: sum(loaded.get(name, {}).values())
        for name in ("emitted", "landed", "duplicates", "quarantined")
    }
    return {**totals, "lost_total": loaded.get("lost_total"), "notes": loaded.get("notes")}


def last_words(state: Path) -> str:
    out = state.parent / f"{state.name}-up.out"
    try:
        tail = out.read_text(errors="replace").splitlines()[-12:]
    except OSError:
        tail = []
    return "its last words:\n" + "\n".join(tail)


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
