"""Benchmarks: `streamsim bench NAME` runs `streamsim.bench.NAME.run(settings, options)`.

Each benchmark module defines `DESCRIPTION`, `add_options(parser)` for its own flags, and
`run(settings, options) -> dict`, whose result is printed as JSON. Figures worth keeping go
into docs/benchmarks.md with the command that produced them.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from types import ModuleType
from typing import Any, Protocol, cast


class Benchmark(Protocol):
    DESCRIPTION: str

    def add_options(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, settings: Any, options: argparse.Namespace) -> dict[str, Any]: ...


def available() -> dict[str, Benchmark]:
    """Every module in this package is a benchmark, named after its module."""
    found: dict[str, Benchmark] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module: ModuleType = importlib.import_module(f"{__name__}.{info.name}")
        found[info.name] = cast(Benchmark, module)
    return found
