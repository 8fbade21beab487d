"""One run per state folder, and a lock file that never names a run that has gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamsim.settings import load_settings
from streamsim.stack.errors import StackError
from streamsim.stack.up import state_lock


@pytest.mark.timeout(10)
def test_a_second_run_on_a_held_folder_is_refused_and_the_file_is_empty_after(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path, run_id="r7")
    lock = settings.state / "up.lock"

    with state_lock(settings):
        held = lock.read_text()
        with pytest.raises(StackError, match="already running") as refused, state_lock(settings):
            pass
    after = lock.read_text()
    with state_lock(settings):
        again = lock.read_text()

    assert held.startswith("run r7, pid ")
    assert held in str(refused.value)
    assert after == ""
    assert again == held
