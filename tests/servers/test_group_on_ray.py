"""The server group on a real two-node Ray cluster: it grows, shrinks without cutting, heals.

Real users (the simulator's own) watch through the router at 20x; the test sets how many
there are. Capacity 10 and a target of 60% make every step happen within seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import ray
from ray.actor import ActorHandle

from streamsim.clock import SiteClock
from streamsim.servers.group import ServerGroup
from streamsim.settings import Settings
from streamsim.users.catalogue import Catalogue
from streamsim.users.model import BehaviourModel, load_model
from streamsim.users.player import Player
from streamsim.users.user import SimulatedUser

from .ray_cluster import (
    actor_pid,
    alive_nodes,
    cluster_settings,
    dashboard,
    running_cluster,
    server_events,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SPEED = 20.0
CAPACITY = 10
WINDOW_S = 100.0  # site seconds: 5 real seconds
GROUP = {
    "capacity": CAPACITY,
    "min_servers": 1,
    "max_servers": 4,
    "target_utilisation": 0.6,
    "tolerance": 0.1,
    "low_water_utilisation": 0.4,
    "scale_interval_s": 5.0,
    "scale_down_window_s": WINDOW_S,
    "rate_period_s": 20.0,
    "scale_up_max_step": 2,
    "scale_down_max_step": 1,
    "drain_timeout_s": 5000.0,  # never reached here: a cut would be a failure
}
# Viewers who keep watching video after video, never give up waiting, and seek every few
# site seconds, so each finds out soon when its server is gone (laid over behaviour.toml).
PLAYING_ROW = "watch = 0.498\nseek_forward = 0.25\nseek_back = 0.25\nclose = 0.002\n"
VIEWER_MODEL = "\n".join(
    [
        "[transitions.start]\nopen_video = 1.0",
        *(f"[transitions.{row}]\n{PLAYING_ROW}" for row in ("play", "watch", "resume")),
        *(f"[transitions.{row}]\n{PLAYING_ROW}" for row in ("seek_forward", "seek_back")),
        "[transitions.video_end]\nnext_video = 1.0",
        "[transitions.gave_up]\nrecommended = 1.0",
        "[durations]",
        *(f'{a} = {{ dist = "constant", value = 20.0 }}' for a in ("watch", "play")),
        "[traits]",
        'patience_s = { dist = "constant", value = 3600.0 }',
    ]
)


class Crowd:
    """The simulator's users, run on an event loop of their own; the test sets how many."""

    def __init__(
        self, router_url: str, clock: SiteClock, run_id: str, model: BehaviourModel
    ) -> None:
        self.events: list[dict[str, Any]] = []
        self._model, self._catalogue = model, Catalogue(model.catalogue)
        self._router_url, self._clock, self._run_id = router_url, clock, run_id
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._http: aiohttp.ClientSession = self._call(self._open_http())
        self._users: list[asyncio.Task[None]] = []
        self._numbers = itertools.count(1)

    async def _open_http(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    def _call(self, work: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(work, self._loop)
        return future.result(timeout=120)

    def add(self, count: int, every_s: float) -> None:
        for _ in range(count):
            self._call(self._add_one())
            time.sleep(every_s)

    async def _add_one(self) -> None:
        number = next(self._numbers)
        user = SimulatedUser(
            f"u-{number}",
            number,
            model=self._model,
            catalogue=self._catalogue,
            clock=self._clock,
            player=Player(self._http, self._router_url),
            emit=self.events.append,
            heartbeat_s=10.0,
            run_id=self._run_id,
        )
        self._users.append(self._loop.create_task(user.live()))

    def keep(self, count: int) -> None:
        """Close the browsers of all users but the first `count`."""
        self._call(self._close(self._users[count:]))
        self._users = self._users[:count]

    async def _close(self, users: list[asyncio.Task[None]]) -> None:
        for task in users:
            task.cancel()
        await asyncio.gather(*users, return_exceptions=True)

    def stop(self) -> None:
        self.keep(0)
        self._call(self._http.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def restarts(self) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e.get("restart_reason") == "stream_lost"]


def describe(group: ActorHandle) -> dict[str, Any]:
    return dict(ray.get(group.describe.remote(), timeout=30))


def serving(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in state["servers"] if s["state"] == "serving"]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    state = tmp_path_factory.mktemp("group")
    with pytest.MonkeyPatch.context() as env:
        env.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
        env.delenv("RAY_ADDRESS", raising=False)
        env.setenv("STREAMSIM_CONFIG", os.devnull)
        settings = cluster_settings(Path(state), **GROUP)
        with running_cluster(settings):
            yield settings


def test_the_group_grows_before_full_shrinks_without_cuts_and_heals(settings: Settings) -> None:
    clock = SiteClock.starting_now(SPEED)
    group = ServerGroup.options(  # type: ignore[attr-defined]
        name="streamsim-router", num_cpus=0.05
    ).remote(settings, clock)
    router_url = ray.get(group.start.remote(), timeout=120)
    model_file = settings.state / "viewers.toml"
    model_file.write_text(VIEWER_MODEL)
    crowd = Crowd(router_url, clock, settings.run_id, load_model(model_file))
    seen: list[dict[str, Any]] = []
    lives: list[dict[str, Any]] = []
    try:
        grow_past_one_server(group, crowd, seen)
        dropped_at = shrink_to_one_server(group, crowd, seen, clock)
        victim = kill_the_busiest_server(settings, group, crowd, seen)
    finally:
        crowd.stop()
        ray.get(group.stop.remote(), timeout=120)
        lives = ray.get(group.ledger.remote(), timeout=10)
        ray.kill(group)
    events = server_events(settings)

    assert_second_server_served_before_the_first_was_full(events)
    assert_shrunk_only_after_the_window(events, dropped_at)
    assert_no_stream_was_cut(events)
    assert_the_lost_servers_streams_started_again_elsewhere(events, crowd, victim)
    assert_servers_ran_on_the_second_node(settings, seen)
    assert sum(seen[-1]["emitted"].values()) > 0  # the router reports what servers emitted
    assert_the_ledger_has_each_life_at_its_events_times(events, lives, victim)


def assert_the_ledger_has_each_life_at_its_events_times(
    events: list[dict[str, Any]], lives: list[dict[str, Any]], victim: str
) -> None:
    """The group's own record of its servers matches, to the millisecond, what they emitted."""
    started = {
        e["server_id"]: e["emitted_at"] for e in events if e["event_type"] == "server_started"
    }
    stopped = {
        e["server_id"]: e["emitted_at"] for e in events if e["event_type"] == "server_stopped"
    }
    assert {life["server_id"]: life["started_at"] for life in lives} == started
    assert {life["server_id"]: life["stopped_at"] for life in lives} == stopped
    assert [life["server_id"] for life in lives if life["lost"]] == [victim]


def grow_past_one_server(group: ActorHandle, crowd: Crowd, seen: list[dict[str, Any]]) -> None:
    assert len(serving(describe(group))) == 1  # the group starts at min_servers
    crowd.add(16, every_s=1.5)
    wait_for(lambda: len(serving(remember(group, seen))) >= 2, 30, "a second server")


def shrink_to_one_server(
    group: ActorHandle, crowd: Crowd, seen: list[dict[str, Any]], clock: SiteClock
) -> float:
    """Three users stay, so servers drain with streams still playing on them.

    Returns the site time of the drop: the events' `emitted_at` are site time too.
    """
    dropped_at = clock.now()
    crowd.keep(3)
    wait_for(lambda: len(remember(group, seen)["servers"]) == 1, 90, "the group to shrink to 1")
    return dropped_at


def kill_the_busiest_server(
    settings: Settings, group: ActorHandle, crowd: Crowd, seen: list[dict[str, Any]]
) -> str:
    crowd.add(9, every_s=0.3)
    wait_for(lambda: len(busy_servers(remember(group, seen))) >= 2, 60, "two busy servers")
    victim = max(busy_servers(describe(group)), key=lambda s: s["streams"])
    os.kill(actor_pid(settings, f"streamsim-{victim['server_id']}"), signal.SIGKILL)

    def healed() -> bool:
        state = remember(group, seen)
        names = {s["server_id"] for s in state["servers"]}
        return victim["server_id"] not in names and len(serving(state)) == state["desired_servers"]

    wait_for(healed, 60, "the group to replace the lost server")
    wait_for(lambda: bool(crowd.restarts()), 60, "a user to start again elsewhere")
    return str(victim["server_id"])


def busy_servers(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in serving(state) if s["streams"] > 0]


def remember(group: ActorHandle, seen: list[dict[str, Any]]) -> dict[str, Any]:
    state = describe(group)
    seen.append(state)
    return state


# --- what the events say ----------------------------------------------------------------


def of(events: list[dict[str, Any]], kind: str, **fields: Any) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if e["event_type"] == kind and all(e.get(k) == v for k, v in fields.items())
    ]


def assert_second_server_served_before_the_first_was_full(events: list[dict[str, Any]]) -> None:
    held = 0
    for event in events:
        if event.get("server_id") != "server-1":
            if event["event_type"] == "stream_started":
                break  # the first stream on another server
            continue
        if event["event_type"] == "stream_started":
            held += 1
            assert held < CAPACITY, "server-1 filled up before another server took a stream"
        elif event["event_type"] == "stream_stopped":
            held -= 1
    else:
        pytest.fail("no stream ever started on a second server")
    ups = of(events, "scaling_decided", reason="scale_up")
    assert ups and ups[0]["desired_servers"] >= 2


def assert_shrunk_only_after_the_window(events: list[dict[str, Any]], dropped_at: float) -> None:
    downs = of(events, "scaling_decided", reason="scale_down")
    downs += of(events, "scaling_decided", reason="scale_down_rate_limited")
    assert downs, "the group never decided to shrink"
    first_down = min(_site_seconds(e) for e in downs)
    # Both in site seconds: the window, less up to two decision rounds of lag in seeing it.
    assert first_down - dropped_at >= WINDOW_S - 2 * GROUP["scale_interval_s"]
    assert of(events, "server_draining")


def _site_seconds(event: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(event["emitted_at"]).replace("Z", "+00:00")).timestamp()


def assert_no_stream_was_cut(events: list[dict[str, Any]]) -> None:
    """Cut: a stream the server ended (`server_draining`) rather than its user or a loss."""
    stops = [e for e in of(events, "server_stopped") if e.get("reason") != "server_lost"]
    # Every server of the run stops: those drained during it, and those at the teardown.
    assert len(stops) >= 3
    assert all(e["streams_cut"] == 0 for e in stops), stops
    assert of(events, "stream_stopped", reason="server_draining") == []


def assert_the_lost_servers_streams_started_again_elsewhere(
    events: list[dict[str, Any]], crowd: Crowd, victim: str
) -> None:
    [lost] = of(events, "server_stopped", server_id=victim, reason="server_lost")
    lost_streams = of(events, "stream_stopped", server_id=victim, reason="server_lost")
    assert lost_streams and lost["streams_lost"] == len(lost_streams)
    lost_sessions = {e["session_id"] for e in lost_streams}
    restarts = crowd.restarts()
    assert restarts
    for restart in restarts:
        assert restart["session_id"] in lost_sessions
        assert restart["server_id"] != victim
        assert restart["video_start_time_ms"] >= 0
        [started] = of(events, "stream_started", stream_id=restart["stream_id"])
        assert started["position_s"] == restart["position_s"]


def assert_servers_ran_on_the_second_node(settings: Settings, seen: list[dict[str, Any]]) -> None:
    nodes = {n["node_id"]: n["is_head"] for n in alive_nodes(settings)}
    used = {server["node_id"] for state in seen for server in state["servers"]}
    assert any(not nodes.get(node, True) for node in used), (nodes, used)
    urls = {server["url"] for state in seen for server in state["servers"]}
    assert all(url.startswith("http://127.0.0.1:") for url in urls), urls  # loopback only
    assert dashboard(settings).startswith("http://127.0.0.1:")
