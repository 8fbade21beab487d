"""A part that keeps dying ends the run instead of being started again for ever."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from streamsim.settings import Settings
from streamsim.stack.errors import StackError
from streamsim.stack.restarts import MAX_RESTARTS, RestartBudget
from streamsim.stack.up import Stack


def test_a_part_may_restart_up_to_its_budget_then_the_run_stops_naming_it_and_its_log() -> None:
    budget = RestartBudget(max_restarts=3, window_s=60.0)
    for second in range(3):
        budget.spend("sink", Path("logs/sink.log"), now=float(second))

    with pytest.raises(StackError, match=r"sink exited 4 times within 1 minutes.*logs/sink.log"):
        budget.spend("sink", Path("logs/sink.log"), now=3.0)


def test_restarts_spread_wider_than_the_window_never_stop_the_run() -> None:
    budget = RestartBudget(max_restarts=2, window_s=60.0)
    for minute in range(10):
        budget.spend("orchestrator", None, now=minute * 61.0)


def test_each_part_has_a_budget_of_its_own() -> None:
    budget = RestartBudget(max_restarts=1, window_s=60.0)
    budget.spend("sink", None, now=0.0)
    budget.spend("orchestrator", None, now=1.0)

    with pytest.raises(StackError, match="sink"):
        budget.spend("sink", None, now=2.0)


@dataclass
class DiesOnStart:
    """A process that is dead again whenever the launcher looks."""

    name: str = "sink"
    pid: int | None = 1
    log_path: Path = Path("logs/sink.log")
    starts: int = 0

    def alive(self) -> bool:
        return False

    def start(self) -> None:
        self.starts += 1


def test_the_launcher_stops_restarting_a_part_that_dies_on_every_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = Stack(Settings(state_dir=tmp_path))
    looping = DiesOnStart()
    monkeypatch.setattr(stack, "_processes", lambda: [looping])
    monkeypatch.setattr(stack, "_write_stack_file", lambda *_: None)

    with pytest.raises(StackError, match="sink exited"):
        for _ in range(MAX_RESTARTS + 1):
            stack.restart_dead_processes()
    assert looping.starts == MAX_RESTARTS
