"""Superset as one of the stack's processes: its secrets, its environment, its command line.

Superset lives in a virtualenv of its own (its sqlglot is not SQLMesh's), so the launcher
never imports it: it writes the secret key and the admin's password into the state folder,
then starts `superset/serve.py` with Superset's Python.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from streamsim.paths import REPO_ROOT
from streamsim.settings import Settings
from streamsim.stack.errors import StackError
from streamsim.stack.processes import Process

SUPERSET_DIR = REPO_ROOT / "superset"
DEFAULT_VIRTUALENV = REPO_ROOT / ".venv-superset"
ADMIN_USER = "admin"


@dataclass(frozen=True)
class Admin:
    username: str
    password: str


def virtualenv(settings: Settings) -> Path:
    return settings.bi.virtualenv or DEFAULT_VIRTUALENV


def superset_url(settings: Settings) -> str:
    return f"http://{settings.bi.host}:{settings.bi.port}"


def write_private(path: Path, text: str) -> None:
    """Create the file readable by its owner alone before a byte of the secret is in it."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def admin_file(settings: Settings) -> Path:
    return settings.superset_home / "admin.json"


def ensure_secrets(settings: Settings) -> Admin:
    """A random secret key and admin password on first start, the same ones ever after."""
    home = settings.superset_home
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    key = home / "secret_key"
    if not key.exists():
        write_private(key, secrets.token_urlsafe(48))
    if not admin_file(settings).exists():
        admin = {"username": ADMIN_USER, "password": secrets.token_urlsafe(18)}
        write_private(admin_file(settings), json.dumps(admin))
    return read_admin(settings)


def read_admin(settings: Settings) -> Admin:
    stored = json.loads(admin_file(settings).read_text())
    return Admin(stored["username"], stored["password"])


def superset_environment(settings: Settings) -> dict[str, str]:
    home = settings.superset_home
    return {
        "STREAMSIM_SUPERSET_HOME": str(home),
        "SUPERSET_HOME": str(home),
        "SUPERSET_CONFIG_PATH": str(SUPERSET_DIR / "superset_config.py"),
        "SCARF_ANALYTICS": "false",
        "FLASK_APP": "superset",
        "PYTHONUNBUFFERED": "1",
    }


def superset_process(settings: Settings) -> Process:
    python = virtualenv(settings) / "bin" / "python"
    if not python.exists():
        raise StackError(
            f"Superset's virtualenv is missing ({python}); `make install-superset` installs it, "
            "or set STREAMSIM_BI__ENABLED=false to run without dashboards"
        )
    bi = settings.bi
    argv = [
        str(python),
        str(SUPERSET_DIR / "serve.py"),
        *(bi.host, str(bi.port), str(bi.workers), str(bi.threads)),
    ]
    env = superset_environment(settings)
    return Process("superset", argv, settings.logs_dir, env, cwd=settings.superset_home)
