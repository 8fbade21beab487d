"""How the launcher starts Dagster: its home in the state folder, its environment, its commands.

Dagster keeps everything it stores under DAGSTER_HOME unless told otherwise, so giving each
state folder its own home (holding a copy of the repository's `dagster.yaml`) keeps runs,
logs and sensor cursors beside the lake and warehouse they describe.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from streamsim.settings import Settings

REPO_DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster_home" / "dagster.yaml"
CODE_LOCATION = "streamsim.pipeline.definitions"


def dagster_home(settings: Settings) -> Path:
    return settings.state / "dagster_home"


def prepare_dagster_home(settings: Settings) -> Path:
    """Copy the instance settings into this state folder's Dagster home, fresh on each start."""
    home = dagster_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_DAGSTER_YAML, home / "dagster.yaml")
    return home


def dagster_environment(settings: Settings) -> dict[str, str]:
    """The environment both Dagster processes (and the code servers they spawn) need."""
    return {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home(settings)),
        "STREAMSIM_STATE_DIR": str(settings.state),
        "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "true",
    }


def dagster_commands(settings: Settings) -> dict[str, list[str]]:
    """Command lines for the webserver (UI and API, on loopback) and the daemon (sensor, queue)."""
    bin_dir = Path(sys.executable).parent
    location = ["-m", CODE_LOCATION]
    webserver = [
        str(bin_dir / "dagster-webserver"),
        *("--host", settings.pipeline.host, "--port", str(settings.pipeline.port)),
        *location,
    ]
    return {"webserver": webserver, "daemon": [str(bin_dir / "dagster-daemon"), "run", *location]}
