"""Superset's secrets: made once, private, and never the well-known defaults."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from streamsim.bi.server import admin_file, ensure_secrets
from streamsim.settings import Settings


@pytest.mark.timeout(10)
def test_the_admin_password_is_random_private_and_kept_across_starts(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)

    first = ensure_secrets(settings)
    again = ensure_secrets(settings)

    assert first == again
    assert first.password != "admin" and len(first.password) >= 20
    for path in (admin_file(settings), settings.superset_home / "secret_key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.superset_home.stat().st_mode) == 0o700


@pytest.mark.timeout(10)
def test_two_state_folders_get_different_passwords(tmp_path: Path) -> None:
    one = ensure_secrets(Settings(state_dir=tmp_path / "one"))
    two = ensure_secrets(Settings(state_dir=tmp_path / "two"))

    assert one.password != two.password
