"""Prepare Superset's metadata on first start, then become its web server.

Run with the Python of Superset's own virtualenv (it cannot import streamsim, whose SQLMesh
needs another sqlglot). The launcher has already written the secret key and the admin's
password into STREAMSIM_SUPERSET_HOME; this script only reads them.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HOME = Path(os.environ["STREAMSIM_SUPERSET_HOME"])
BIN = Path(sys.executable).parent
READY = HOME / "initialised"
# Metadata migrated and with its roles, made once at install: a new state folder copies it
# instead of spending a minute or more on the same migrations. It holds no secret.
TEMPLATE = BIN.parent / "superset-template.db"


def superset(*args: str) -> None:
    began = time.monotonic()
    subprocess.run([str(BIN / "superset"), *args], check=True, stdin=subprocess.DEVNULL)
    print(f"superset {args[0]} took {time.monotonic() - began:.1f} s", flush=True)


def prepare_template() -> None:
    """Migrate an empty metadata database and add Superset's roles to it."""
    superset("db", "upgrade")
    superset("init")
    shutil.copyfile(HOME / "superset.db", TEMPLATE)


def initialise() -> None:
    """Schema, roles and the one admin: seconds from the template, once per state folder."""
    if TEMPLATE.exists():
        shutil.copyfile(TEMPLATE, HOME / "superset.db")
    else:
        superset("db", "upgrade")
        superset("init")
    create_admin()
    READY.touch()


def create_admin() -> None:
    """In this process, so the password never shows on a command line others can list."""
    from superset.app import create_app

    from superset import security_manager

    admin = json.loads((HOME / "admin.json").read_text())
    with create_app().app_context():
        if security_manager.find_user(username=admin["username"]) is None:
            role = security_manager.find_role("Admin")
            user = security_manager.add_user(
                admin["username"], "streamsim", "admin", "admin@localhost", role, admin["password"]
            )
            if not user:
                raise SystemExit("could not create Superset's admin user")


def serve(host: str, port: str, workers: str, threads: str) -> None:
    argv = [
        str(BIN / "gunicorn"),
        f"--bind={host}:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        "--worker-class=gthread",
        "--timeout=120",
        "--access-logfile=-",
        "superset.app:create_app()",
    ]
    os.execv(argv[0], argv)


if __name__ == "__main__":
    if sys.argv[1:] == ["template"]:
        prepare_template()
        sys.exit(0)
    if not READY.exists():
        initialise()
    serve(*sys.argv[1:5])
