"""Shared by every test: streamsim is imported before anything imports Ray.

streamsim sets the environment Ray reads at import time to keep every socket on loopback;
a test module that imported `ray` first (sorted imports put it before `streamsim`) would
get a Ray that reaches for the machine's outside address instead.
"""

import streamsim  # noqa: F401
