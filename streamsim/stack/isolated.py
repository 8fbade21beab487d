"""The environment of a stack of its own, for benches and tests that start `streamsim up`.

Such a stack must not meet the user's: it gets its own state folder and a free loopback
port for every port setting, and none of the caller's streamsim settings (environment
variables or `streamsim.toml`), so what it measures is what its caller asked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel

from streamsim.settings import Settings
from streamsim.stack.processes import free_port

PREFIX = "STREAMSIM_"
# Variables other tools read that would point the stack's clients at someone else's parts.
FOREIGN_ADDRESSES = ("KAFKA_BOOTSTRAP_SERVERS", "RAY_ADDRESS")


def port_settings() -> list[str]:
    """Every port setting, as its variable name without the prefix (`KAFKA__PORT`, ...)."""
    names = []
    for section, field in Settings.model_fields.items():
        part = field.annotation
        if isinstance(part, type) and issubclass(part, BaseModel):
            ports = [name for name in part.model_fields if name.endswith("port")]
            names += [f"{section}__{port}".upper() for port in ports]
    return names


def ignored_settings(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The caller's streamsim variables an isolated stack leaves out, to say so."""
    return sorted(name for name in environ if name.startswith(PREFIX))


def isolated_env(state: Path, settings: Mapping[str, object] | None = None) -> dict[str, str]:
    """This process's environment for a stack in `state` on free ports, with `settings`.

    `settings` are named as their variables without the prefix: {"USERS__SEED": 11}.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    for name in FOREIGN_ADDRESSES:
        env.pop(name, None)
    env.update({f"{PREFIX}{name}": str(free_port()) for name in port_settings()})
    env[f"{PREFIX}STATE_DIR"] = str(state)
    env[f"{PREFIX}CONFIG"] = os.devnull  # a streamsim.toml where it runs is not its settings
    env.update({f"{PREFIX}{name}": str(value) for name, value in (settings or {}).items()})
    return env


def stack_ports(env: Mapping[str, str]) -> list[int]:
    """The ports `isolated_env` gave the stack."""
    return [int(env[f"{PREFIX}{name}"]) for name in port_settings()]
