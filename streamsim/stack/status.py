"""`streamsim status`: is each part of a running stack healthy?"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from streamsim.settings import Settings
from streamsim.stack.processes import port_open

SINK_STALE_S = 30.0  # the sink rewrites its status at least every 10 s while it runs
# The fresh loop publishes a new serving copy every few seconds while events land, and the
# servers report their utilisation even when nobody watches: an older copy means the pipeline
# has stopped loading (the metrics' freshness goal is 60 s).
WAREHOUSE_STALE_S = 120.0


@dataclass(frozen=True)
class Health:
    component: str
    healthy: bool
    detail: str


def http_json(url: str, timeout_s: float = 3.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as answer:
        return json.loads(answer.read())


def check_http(component: str, url: str, describe: Any = None) -> Health:
    try:
        body = http_json(url)
    except (urllib.error.URLError, OSError, ValueError):
        return Health(component, False, f"not answering at {url}")
    return Health(component, True, describe(body) if describe else url)


def check_port(component: str, address: str) -> Health:
    host, _, port = address.rpartition(":")
    ok = port_open(host, int(port))
    return Health(component, ok, f"{address} {'answers' if ok else 'does not answer'}")


def check_sink(settings: Settings, pid: int | None) -> Health:
    """Alive by its process, current by its status file (rewritten every batch or 10 s)."""
    from streamsim.sink import read_status

    if pid is None or not psutil.pid_exists(pid):
        return Health("sink", False, "its process is not running")
    status = read_status(settings)
    if status is None or status.get("pid") != pid:
        return Health("sink", False, "running, but has written no status yet")
    age = time.time() - status_time(status)
    healthy = status.get("state") == "running" and age < SINK_STALE_S
    return Health(
        "sink",
        healthy,
        f"{status.get('state')}, {status.get('events_total', 0)} events landed since it "
        f"started, {status.get('quarantined_total', 0)} quarantined, status {age:.0f} s old",
    )


def status_time(status: dict[str, Any]) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(status["updated_at"])).timestamp()
    except (KeyError, ValueError):
        return 0.0


def check_superset(stack: dict[str, Any]) -> Health:
    """Up when its health page answers OK at the address the running stack recorded."""
    url = stack.get("urls", {}).get("Superset")
    if url is None:
        return Health("superset", True, "not started with this run (bi.enabled is false)")
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3.0) as answer:
            healthy = answer.read().strip() == b"OK"
    except (urllib.error.URLError, OSError):
        return Health("superset", False, f"not answering at {url}")
    return Health("superset", healthy, f"{url} {'up' if healthy else 'answers, but not OK'}")


def check_warehouse(settings: Settings, run_id: str, now: float | None = None) -> Health:
    """Healthy while the serving copy is republished: a count alone looks fine for ever."""
    from streamsim.warehouse_query import warehouse_counts

    try:
        # Before the counts: a copy published in between is then younger, never older.
        published = settings.serving_path.stat().st_mtime
    except FileNotFoundError:
        published = None
    counts = warehouse_counts(settings, run_id)
    if published is None or counts is None:
        return Health("warehouse", False, "no serving copy yet (the first pipeline run makes it)")
    age = (time.time() if now is None else now) - published
    detail = f"{counts[0]} events of run {run_id} queryable, {counts[1]} in all; "
    detail += f"published {age:.0f} s ago"
    if age > WAREHOUSE_STALE_S:
        detail += " (stale: the fresh loop publishes every few seconds; see its runs in Dagster)"
    return Health("warehouse", age <= WAREHOUSE_STALE_S, detail)


def collect(settings: Settings, stack: dict[str, Any]) -> list[Health]:
    s = settings
    pids = stack.get("pids", {})
    return [
        check_port("kafka", s.kafka.bootstrap.split(",")[0]),
        check_http(
            "ray",
            f"http://{s.ray.host}:{s.ray.dashboard_port}/api/version",
            lambda b: f"Ray {b.get('ray_version')}",
        ),
        check_http(
            "users",
            f"http://{s.users.host}:{s.users.port}/health",
            lambda b: f"{b['active']} users active",
        ),
        check_http(
            "servers", f"http://{s.servers.host}:{s.servers.router_port}/health", describe_servers
        ),
        check_http(
            "orchestrator",
            f"http://{s.orchestrator.host}:{s.orchestrator.port}/api/stats",
            describe_orchestrator,
        ),
        check_sink(settings, pids.get("sink")),
        check_http(
            "dagster",
            f"http://{s.pipeline.host}:{s.pipeline.port}/server_info",
            lambda b: f"Dagster {b.get('dagster_version')}",
        ),
        check_warehouse(settings, str(stack.get("run_id"))),
        check_superset(stack),
    ]


def describe_orchestrator(body: dict[str, Any]) -> str:
    """The wave's rate now and what became of its arrivals, in words."""
    counts = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in body["counts"].items())
    return f"rate {body['requested_rate']}/s; {counts or 'no arrivals yet'}"


def describe_servers(body: dict[str, Any]) -> str:
    """The group in one line: its size against the autoscaler's, then each server."""
    servers = body["servers"]
    if not servers:
        return "no servers"
    serving = [srv for srv in servers if srv.get("state", "serving") == "serving"]
    streams = sum(srv["streams"] for srv in servers)
    group = (
        f"{len(serving)} serving (desired {body.get('desired_servers', len(serving))}), "
        f"{streams} streams, {body.get('utilisation', 0.0):.0%}"
    )
    each = ", ".join(
        f"{srv['server_id']} {srv['streams']} streams ({srv['utilisation']:.0%}"
        f"{', draining' if srv.get('state') == 'draining' else ''})"
        for srv in servers
    )
    return f"{group}: {each}"


def render(report: list[Health], as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {
                "healthy": all(h.healthy for h in report),
                "running": True,
                "components": [asdict(h) for h in report],
            },
            indent=2,
        )
    return "\n".join(
        f"{'ok  ' if h.healthy else 'DOWN'} {h.component:<13} {h.detail}" for h in report
    )
