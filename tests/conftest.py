"""Shared by every test: streamsim is imported before anything imports Ray.

streamsim sets the environment Ray reads at import time to keep every socket on loopback;
a test module that imported `ray` first (sorted imports put it before `streamsim`) would
get a Ray that reaches for the machine's outside address instead.
"""

import pytest

import streamsim  # noqa: F401

# Brokers and Ray clusters shared by a whole session are stopped while the last test tears
# down, within that test's own timeout: give it room for every one of them (each may take
# its full stop grace on a busy machine), not the few seconds the test itself needs.
SESSION_TEARDOWN_S = 300


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if items:
        last = items[-1]
        own = last.get_closest_marker("timeout")
        own_s = float(own.args[0]) if own is not None and own.args else 0.0
        # Room added to what the test needs itself, never taken from a longer timeout.
        last.add_marker(pytest.mark.timeout(own_s + SESSION_TEARDOWN_S), append=False)
