"""Making a file's arrival survive a crash: the lake and the serving copy both need it."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """A rename is durable only once the folder that holds it is synced, not just the bytes."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
