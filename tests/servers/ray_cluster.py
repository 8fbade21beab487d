"""A real two-node Ray cluster and a Kafka broker on free loopback ports, for the group tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray
from kafka import KafkaConsumer
from ray.cluster_utils import Cluster

from streamsim.events.topics import SERVER_TOPIC
from streamsim.settings import Settings, load_settings
from streamsim.stack.broker import running_broker
from streamsim.stack.processes import free_port
from streamsim.stack.ray_head import RAY_QUIET_ENV


def cluster_settings(state: Path, **servers: object) -> Settings:
    """Every port free and every file under `state`, so nothing meets another run."""
    return load_settings(
        state_dir=state,
        run_id=f"group-test-{state.name}",
        kafka={"port": free_port(), "controller_port": free_port()},
        ray={"port": free_port(), "dashboard_port": free_port(), "num_cpus": 2},
        servers={"router_port": free_port(), **servers},
    )


@contextmanager
def running_cluster(settings: Settings, second_node_cpus: float = 1.0) -> Iterator[None]:
    """Kafka, a Ray head and a second Ray node joined to it; this process is the driver.

    The nodes come from Ray's mini-cluster for tests (`ray.cluster_utils.Cluster`): on Ray
    2.60, `ray start --address=127.0.0.1:…` for a second node either refuses (with
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, which keeps a head on loopback) or swaps
    127.0.0.1 for the machine's outside address (with it set to 1). The mini-cluster
    starts the same raylet, joined to the same GCS, with every socket on 127.0.0.1.
    """
    cluster: Cluster | None = None
    with running_broker(settings):
        try:
            cluster = Cluster(
                initialize_head=True, connect=False, head_node_args=head_args(settings)
            )
            cluster.add_node(
                num_cpus=second_node_cpus,
                node_ip_address=settings.ray.host,
                dashboard_agent_listen_port=free_port(),
            )
            cluster.wait_for_nodes()
            ray.init(
                address=cluster.address,
                _node_ip_address=settings.ray.host,
                log_to_driver=False,
                runtime_env={"env_vars": RAY_QUIET_ENV},
            )
            wait_for(
                lambda: len(alive_nodes(settings)) == 2, 60, "the dashboard to list both nodes"
            )
            yield
        finally:
            ray.shutdown()
            if cluster is not None:
                cluster.shutdown()


def head_args(settings: Settings) -> dict[str, Any]:
    ray_settings = settings.ray
    return {
        "num_cpus": ray_settings.num_cpus,
        "node_ip_address": ray_settings.host,
        "gcs_server_port": ray_settings.port,
        "include_dashboard": True,
        "dashboard_host": ray_settings.host,
        "dashboard_port": ray_settings.dashboard_port,
        "dashboard_agent_listen_port": free_port(),
        "temp_dir": str(settings.state / "ray"),
    }


def alive_nodes(settings: Settings) -> list[dict[str, Any]]:
    """Nodes as the dashboard's state API lists them (what `ray list nodes` prints)."""
    from ray.util.state import list_nodes

    try:
        nodes = list_nodes(address=dashboard(settings), filters=[("state", "=", "ALIVE")])
    except Exception:  # the dashboard answers a few seconds after its port opens
        return []
    return [{"node_id": n.node_id, "is_head": n.is_head_node} for n in nodes]


def dashboard(settings: Settings) -> str:
    return f"http://{settings.ray.host}:{settings.ray.dashboard_port}"


def actor_pid(settings: Settings, name: str) -> int:
    """The PID Ray reports for a live named actor (what `ray list actors` shows)."""
    from ray.util.state import list_actors

    filters: list[tuple[str, str, str | bool | int | float]] = [
        ("name", "=", name),
        ("state", "=", "ALIVE"),
    ]
    [actor] = list_actors(address=dashboard(settings), filters=filters)
    assert actor.pid is not None, f"Ray lists {name} without a PID"
    return actor.pid


def server_events(settings: Settings) -> list[dict[str, Any]]:
    """Every server event of this run on the bus, once each, in the order they were emitted.

    Once each: the group sends again what a killed server had not seen settled, so an event
    that had reached the broker anyway is there twice, under one event id.
    """
    import orjson

    consumer = KafkaConsumer(
        SERVER_TOPIC.name,
        bootstrap_servers=settings.kafka.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
        enable_auto_commit=False,
    )
    try:
        events = [orjson.loads(record.value) for record in consumer]
    finally:
        consumer.close()
    ours = {e["event_id"]: e for e in events if e.get("run_id") == settings.run_id}
    return sorted(ours.values(), key=lambda e: str(e["emitted_at"]))


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f} s waiting for {what}"
        time.sleep(0.5)
