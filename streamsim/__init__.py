"""streamsim: a simulated video streaming site and the analytics platform that watches it."""

import os

# Ray reads both at import time. Without the second, a Ray client swaps a loopback address
# for the machine's outside one and tries to reach the head there; with it, a head started
# on 127.0.0.1 keeps every socket on loopback. Set here, before any of our modules imports
# Ray, and inherited by every process we start. A user's own values win.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# SQLMesh sends anonymous usage analytics from its first import unless this is set.
os.environ.setdefault("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "true")

__version__ = "0.1.0"
