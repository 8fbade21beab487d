"""The simulators on Ray: the server group with its router, and the user service."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import ray
from ray.actor import ActorHandle

from streamsim.bus import EmitCounts
from streamsim.clock import SiteClock
from streamsim.servers.group import ServerGroup
from streamsim.settings import Settings
from streamsim.stack.errors import StackError
from streamsim.stack.processes import ensure_port_free, wait_until_open
from streamsim.stack.ray_head import RAY_QUIET_ENV
from streamsim.users.actor import UsersFront

log = logging.getLogger(__name__)


class Simulation:
    """Deploys the simulators onto a Ray cluster and collects their counts at the end."""

    def __init__(self, settings: Settings, clock: SiteClock, ray_address: str) -> None:
        self._settings = settings
        self._clock = clock
        self._address = ray_address
        self._group: ActorHandle | None = None
        self._users: ActorHandle | None = None
        self.router_url = ""
        self.users_url = ""
        # The simulators' own record of what they did, filled by stop().
        self.ledger: dict[str, list[dict[str, Any]]] = {"sessions": [], "servers": []}
        # Counted by servers that were killed before Kafka confirmed them, and the ids of
        # those the group sent again for them; filled by stop().
        self.unconfirmed: Counter[str] = Counter()
        self.resent_ids: list[str] = []

    def start(self) -> None:
        servers, users = self._settings.servers, self._settings.users
        ensure_port_free(servers.host, servers.router_port, "STREAMSIM_SERVERS__ROUTER_PORT")
        ensure_port_free(users.host, users.port, "STREAMSIM_USERS__PORT")
        self._connect()
        self._group = ServerGroup.options(  # type: ignore[attr-defined]
            name="streamsim-router", num_cpus=0.05
        ).remote(self._settings, self._clock)
        self.router_url = ray.get(self._group.start.remote(), timeout=120)
        self._users = UsersFront.options(  # type: ignore[attr-defined]
            name="streamsim-users", num_cpus=0.05
        ).remote(self._settings, self._clock, self.router_url)
        self.users_url = ray.get(self._users.start.remote(), timeout=120)
        log.info("router at %s, user service at %s", self.router_url, self.users_url)

    def _connect(self) -> None:
        host, _, port = self._address.rpartition(":")
        if not host or not port.isdigit() or "://" in self._address:
            raise StackError(
                f"RAY_ADDRESS={self._address} is not a head's address: give it as host:port "
                "(the port `ray start --head` printed; Ray Client ray:// addresses and `auto` "
                "are not supported)"
            )
        # ray.init retries an unreachable address for minutes; say so at once instead.
        if not wait_until_open(host, int(port), timeout_s=10.0):
            raise StackError(
                f"no Ray cluster answers at {self._address}; check RAY_ADDRESS, or unset it "
                "to let streamsim start its own head"
            )
        loopback = host in ("127.0.0.1", "localhost")
        try:
            ray.init(
                address=self._address,
                _node_ip_address=self._settings.ray.host if loopback else None,
                log_to_driver=False,
                logging_level=logging.WARNING,
                runtime_env={"env_vars": RAY_QUIET_ENV},
            )
        except ConnectionError as error:
            # The last line of its cause says why (an auth token the head and this process
            # disagree on, as when ~/.ray/auth_token exists, ...).
            said = [line for line in str(error.__cause__ or error).splitlines() if line.strip()]
            why = said[-1][:300] if said else "no reason given"
            raise StackError(f"could not join the Ray cluster at {self._address}: {why}") from None

    def describe(self) -> dict[str, Any]:
        if self._group is None or self._users is None:
            return {}
        group = _get(self._group.describe.remote(), 10)
        users = _get(self._users.describe.remote(), 10)
        return {"servers": group, "users": users}

    def stop(self) -> EmitCounts:
        """Users close their browsers first, so servers see streams end for a reason."""
        counts = EmitCounts()
        if self._users is not None:
            for replica_counts in _get(self._users.stop.remote(), 120):
                counts.add(replica_counts)
                self.ledger["sessions"].extend(replica_counts.get("ledger", []))
        if self._group is not None:
            for server_counts in _get(self._group.stop.remote(), 120):
                counts.add(server_counts)
                self.resent_ids.extend(server_counts.get("resent_ids", []))
                if server_counts.get("killed"):
                    killed = EmitCounts()
                    killed.add(server_counts)
                    self.unconfirmed.update(killed.unconfirmed())
            self.ledger["servers"] = _get(self._group.ledger.remote(), 10)
        for actor in (self._users, self._group):
            if actor is not None:
                ray.kill(actor)
        self.disconnect()
        return counts

    def disconnect(self) -> None:
        """Let go of the cluster without asking anything of it: it may be what failed."""
        self._users = self._group = None
        ray.shutdown()


def _get(ref: Any, timeout_s: float) -> Any:
    """An actor call's result; actor methods are untyped through Ray's handles."""
    return ray.get(ref, timeout=timeout_s)
