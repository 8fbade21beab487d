"""Superset's configuration for streamsim, read through SUPERSET_CONFIG_PATH.

It runs inside Superset's own virtualenv, so it imports nothing of streamsim: the launcher
(streamsim/bi/server.py) hands it the state folder in STREAMSIM_SUPERSET_HOME. Everything it
keeps (metadata, secret key) lives there, and nothing it serves reaches beyond loopback.
"""

import os
from pathlib import Path

HOME = Path(os.environ["STREAMSIM_SUPERSET_HOME"])

# Written once by the launcher with mode 600; signs sessions and encrypts stored passwords.
SECRET_KEY = (HOME / "secret_key").read_text().strip()
SQLALCHEMY_DATABASE_URI = f"sqlite:///{HOME / 'superset.db'}"
DATA_DIR = str(HOME)

# Nothing phones home: no Scarf pixel, no telemetry, no map tiles, no outside previews.
SCARF_ANALYTICS = False
MAPBOX_API_KEY = ""
FEATURE_FLAGS = {
    "THUMBNAILS": False,
    "ALERT_REPORTS": False,
    "EMBEDDED_SUPERSET": False,
    "DASHBOARD_RBAC": False,
    # Every chart of a dashboard loads at once, seen or not: screenshots and tests see all.
    "DASHBOARD_VIRTUALIZATION": False,
}
# The browser may load nothing from another origin: the page's own bundle holds every script,
# style and font, so a policy of 'self' only is both a guard and a check.
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "script-src": ["'self'", "'strict-dynamic'"],
        "font-src": ["'self'", "data:"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}

# Dashboards follow a live simulation: cached answers would hide the newest minutes.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
RATELIMIT_STORAGE_URI = "memory://"

# SQL Lab answers product questions in seconds; a runaway query should not hold a worker.
SQLLAB_TIMEOUT = 60
SUPERSET_WEBSERVER_TIMEOUT = 60
ROW_LIMIT = 10_000
