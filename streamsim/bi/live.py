"""Superset within a running stack: start it, wait for it, provision it as the warehouse fills.

Datasets can only be made of tables that exist, and the serving copy appears only after the
first pipeline run. So the stack asks on every tick whether the copy holds tables it has not
provisioned yet, and provisions again when it does; provisioning changes nothing otherwise.
"""

from __future__ import annotations

import logging
import threading
import time

from streamsim.bi.catalog import DATASETS, missing_tables
from streamsim.bi.client import SupersetClient, SupersetError, wait_until_up
from streamsim.bi.provision import Outcome, provision
from streamsim.bi.server import (
    admin_file,
    ensure_secrets,
    superset_process,
    superset_url,
)
from streamsim.settings import Settings
from streamsim.stack.errors import StackError

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 300.0  # a first start migrates its metadata: minutes on a busy machine
RETRY_AFTER_S = 15.0


class Dashboards:
    """Owns the Superset process of one run and keeps its dashboards provisioned."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admin = ensure_secrets(settings)
        self.process = superset_process(settings)
        self.url = superset_url(settings)
        self.provisioned: set[str] = set()
        self._next_try = 0.0
        self._provisioning: threading.Thread | None = None

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not wait_until_up(self.url, 2.0):
            if not self.process.alive():
                raise StackError(f"Superset exited while starting; see {self.process.log_path}")
            if time.monotonic() > deadline:
                raise StackError(
                    f"Superset did not answer at {self.url} in {STARTUP_TIMEOUT_S:.0f} s; "
                    f"see {self.process.log_path}"
                )

    def login_line(self) -> str:
        return (
            f"  Superset login: {self.admin.username} / {self.admin.password} "
            f"(kept in {admin_file(self.settings)})"
        )

    def provision_when_ready(self) -> None:
        """Provision once the serving copy holds a table not provisioned yet.

        In a thread of its own: provisioning takes tens of seconds, and the stack's loop
        must go on restarting dead parts and answering Ctrl-C meanwhile.
        """
        busy = self._provisioning is not None and self._provisioning.is_alive()
        if busy or time.monotonic() < self._next_try:
            return
        self._next_try = time.monotonic() + RETRY_AFTER_S
        present = set(DATASETS) - set(missing_tables(self.settings.serving_path))
        if not present or present <= self.provisioned:
            return
        self._provisioning = threading.Thread(
            target=self._provision_tables, args=(present,), name="superset-provision", daemon=True
        )
        self._provisioning.start()

    def _provision_tables(self, present: set[str]) -> None:
        try:
            outcome = self.provision()
        except SupersetError as error:
            log.warning("could not provision Superset yet: %s", error)
            return
        except Exception:
            # The next tick tries again; the run's log keeps what went wrong.
            log.exception("provisioning Superset failed")
            return
        self.provisioned = present
        slugs = ", ".join(f"{self.url}/superset/dashboard/{slug}/" for slug in outcome.dashboards)
        print(f"  Superset dashboards ready ({len(present)} datasets): {slugs}", flush=True)

    def provision(self) -> Outcome:
        client = SupersetClient(self.url)
        client.login(self.admin.username, self.admin.password)
        return provision(client, self.settings.serving_path, self.settings.bi.refresh_s)
