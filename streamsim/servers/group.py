"""The server group on Ray: router, autoscaler and keeper of its members, in one actor.

One actor holds all three because they share one piece of state, the members and their
streams, and an asyncio loop lets them share it without locks across processes:

- the router places each new stream on the least-loaded serving server with room;
- the autoscaler decides, every `scale_interval_s`, how many servers should serve
  (`streamsim.servers.autoscaler`), and `scale_to` starts or drains servers to match;
- the keeper polls each server's streams, retires a drained server, and when a server's
  actor dies it speaks for it (`stream_stopped` with reason `server_lost` for each stream
  it held) and starts a replacement, as a Kubernetes ReplicaSet would.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import ray
from aiohttp import web
from ray.actor import ActorHandle
from ray.exceptions import RayActorError, RayError

from streamsim.bus import Emitter
from streamsim.bus.outbox import outbox_counts, unsettled
from streamsim.clock import SiteClock
from streamsim.events import EventType, Source, new_event
from streamsim.events.envelope import format_site_time
from streamsim.servers.actors import ServerActor, outbox_file
from streamsim.servers.autoscaler import Change, Decision, Load, Policy, Recommendation, decide
from streamsim.settings import ServersSettings, Settings
from streamsim.webserve import read_object, serve

log = logging.getLogger(__name__)

POLL_EVERY_S = 0.5  # real seconds between two looks at every server's streams
CALL_TIMEOUT_S = 10.0  # a server that takes longer to answer the group is unwell
START_TIMEOUT_S = 90.0  # Ray may need to start a worker process, or wait for room


@dataclass
class Member:
    """One server as the group knows it: where it is, and the streams it last reported."""

    server_id: str
    actor: ActorHandle
    url: str
    node_id: str
    pid: int
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    emitted: dict[str, int] = field(default_factory=dict)  # by event type, as last reported
    draining_since: float | None = None  # site time the drain began

    @property
    def load(self) -> int:
        return len(self.streams)

    @property
    def serving(self) -> bool:
        return self.draining_since is None


def policy_from(servers: ServersSettings) -> Policy:
    return Policy(
        target_utilisation=servers.target_utilisation,
        tolerance=servers.tolerance,
        low_water_utilisation=servers.low_water_utilisation,
        min_servers=servers.min_servers,
        max_servers=servers.max_servers,
        scale_down_window_s=servers.scale_down_window_s,
        rate_period_s=servers.rate_period_s,
        scale_up_max_step=servers.scale_up_max_step,
        scale_down_max_step=servers.scale_down_max_step,
    )


@ray.remote(max_restarts=0)
class ServerGroup:
    """The router in front of the servers, with the autoscaler that sizes them."""

    def __init__(self, settings: Settings, clock: SiteClock) -> None:
        self._settings = settings
        self._servers = settings.servers
        self._clock = clock
        self._policy = policy_from(settings.servers)
        self._emitter = Emitter(settings.kafka.bootstrap, Source.SERVER)
        # Sends again what dead servers had not seen settled; counted apart, as `resent`,
        # since the dead server's own count already holds each of those events once.
        self._resender = Emitter(settings.kafka.bootstrap, Source.SERVER)
        self._resent_ids: list[str] = []
        self._abandoned: list[str] = []  # servers given up on while they started
        self._members: list[Member] = []
        self._desired = 0
        self._next_id = 1
        self._sizing = asyncio.Lock()
        self._recommendations: list[Recommendation] = []
        self._changes: list[Change] = []
        self._last_decision: dict[str, Any] | None = None
        self._refused = 0
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped_counts: list[dict[str, Any]] = []
        # Each server's life in site time, as the servers (or, for a lost one, the group)
        # reported it: the simulation's own record of the group's size over time.
        self._lives: dict[str, dict[str, Any]] = {}

    async def start(self) -> str:
        """Start at `min_servers` and let the autoscaler take it from there."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        await self.scale_to(self._policy.min_servers)
        # Seeded so the first window cannot shrink the group below what it started with.
        self._recommendations.append(Recommendation(self._clock.now(), self._desired))
        self._spawn(self._keep_members())
        self._spawn(self._autoscale())
        self._runner, port = await serve(
            self._router_app(), self._servers.host, self._servers.router_port
        )
        return f"http://{self._servers.host}:{port}"

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- sizing -------------------------------------------------------------------------

    def _serving(self) -> list[Member]:
        return [m for m in self._members if m.serving]

    async def scale_to(self, count: int) -> int:
        """Start or drain servers until `count` serve; the autoscaler decides `count`."""
        self._desired = max(0, count)
        async with self._sizing:
            missing = self._desired - len(self._serving())
            # Side by side: each start waits mostly on Ray making a worker process. One that
            # Ray cannot place is left to the next decision or loss to try again.
            await asyncio.gather(*(self._add_server() for _ in range(missing)))
            while len(self._serving()) > self._desired:
                await self._drain(min(self._serving(), key=lambda m: m.load))
        return len(self._serving())

    async def _add_server(self) -> bool:
        server_id = f"server-{self._next_id}"
        self._next_id += 1
        options: dict[str, Any] = {
            "name": f"streamsim-{server_id}",
            "num_cpus": self._servers.cpus_per_server,
        }
        if self._servers.spread_across_nodes:
            options["scheduling_strategy"] = "SPREAD"
        actor = ServerActor.options(**options).remote(  # type: ignore[attr-defined]
            server_id, self._settings, self._clock
        )
        try:
            info = await asyncio.wait_for(actor.start.remote(), START_TIMEOUT_S)
        except (TimeoutError, RayError) as error:
            log.warning("%s did not start: %r", server_id, error)
            ray.kill(actor)
            # It may have begun emitting before it was given up on: what it sent is
            # collected at the group's stop, when it has surely died.
            self._abandoned.append(server_id)
            return False
        self._members.append(Member(server_id, actor, info["url"], info["node_id"], info["pid"]))
        self._lives[server_id] = {"server_id": server_id, "started_at": info.get("started_at")}
        log.info("%s serving at %s on node %s", server_id, info["url"], info["node_id"])
        return True

    async def _drain(self, member: Member) -> None:
        """No new streams go to it; it stops once its last stream ends, or at the bound."""
        member.draining_since = self._clock.now()
        try:
            await asyncio.wait_for(member.actor.drain.remote(), CALL_TIMEOUT_S)
        except (TimeoutError, RayError) as error:
            log.warning("%s did not take the drain: %r", member.server_id, error)

    async def _retire(self, member: Member) -> None:
        """Stop a server for good and keep what it emitted for the run summary."""
        if member in self._members:
            self._members.remove(member)
        try:
            counts: dict[str, Any] = await asyncio.wait_for(member.actor.stop.remote(), 60)
            self._lived(member.server_id, counts.pop("stopped_at", None), lost=False)
            self._stopped_counts.append(counts)
        except (TimeoutError, RayError) as error:
            log.warning("%s did not stop cleanly: %r", member.server_id, error)
        ray.kill(member.actor)
        log.info("%s stopped", member.server_id)

    # --- the autoscaler -----------------------------------------------------------------

    async def _autoscale(self) -> None:
        while True:
            await self._clock.sleep(self._servers.scale_interval_s)
            try:
                await self.decide_once()
            except Exception:  # a bad round must not end autoscaling for the run
                log.exception("the autoscaler's round failed")

    async def decide_once(self) -> Decision:
        """One round: observe, decide by the pure rule, say so, act."""
        serving, now = self._serving(), self._clock.now()
        streams = sum(m.load for m in serving)
        utilisation = Load.of(now, len(serving), streams, self._servers.capacity).utilisation
        # The rule multiplies the size the group is meant to have, as the HPA uses the
        # replica count, so a server being replaced is not taken for a lasting shrink.
        load = Load(now, max(self._desired, len(serving)), utilisation)
        decision = decide(load, self._recommendations, self._changes, self._policy)
        self._remember(decision, now)
        self._emit_decision(decision, now, streams)
        if decision.delta:
            log.info("scaling %d -> %d (%s)", decision.current, decision.desired, decision.reason)
            await self.scale_to(decision.desired)
        return decision

    def _remember(self, decision: Decision, now: float) -> None:
        """Keep only the history the window and the rate period can still look at."""
        self._recommendations.append(decision.recommendation)
        if decision.delta:
            self._changes.append(Change(now, decision.delta))
        window = self._policy.scale_down_window_s
        self._recommendations = [r for r in self._recommendations if now - r.at_s < window]
        period = self._policy.rate_period_s
        self._changes = [c for c in self._changes if now - c.at_s < period]

    def _emit_decision(self, decision: Decision, now: float, streams: int) -> None:
        fields: dict[str, Any] = {
            "servers": decision.current,
            "serving_servers": len(self._serving()),
            "desired_servers": decision.desired,
            "draining_servers": len(self._members) - len(self._serving()),
            "streams": streams,
            "capacity": self._servers.capacity,
            "utilisation": decision.utilisation,
            "target_utilisation": self._policy.target_utilisation,
            "reason": str(decision.reason),
        }
        self._last_decision = fields
        self._emit(EventType.SCALING_DECIDED, now, server_id=None, **fields)

    # --- keeping the members ------------------------------------------------------------

    async def _keep_members(self) -> None:
        """Users stop streams on the servers directly, so the group looks at each server."""
        while True:
            try:
                await asyncio.gather(*(self._look_at(m) for m in list(self._members)))
            except Exception:  # one bad look must not blind the group for the run
                log.exception("looking at the servers failed")
            await asyncio.sleep(POLL_EVERY_S)

    async def _look_at(self, member: Member) -> None:
        asked_at = time.monotonic()
        try:
            snapshot: dict[str, Any] = await asyncio.wait_for(
                member.actor.snapshot.remote(), CALL_TIMEOUT_S
            )
        except RayActorError as error:
            await self._lost(member, error)
            return
        except (TimeoutError, RayError) as error:
            log.warning("%s did not report its streams: %r", member.server_id, error)
            return
        # Placements made while the snapshot travelled are not in it yet: keep them.
        recent = {k: v for k, v in member.streams.items() if v.get("placed_at", 0) > asked_at}
        member.streams = {s["stream_id"]: s for s in snapshot["streams"]} | recent
        member.emitted = snapshot["emitted"]
        if not member.serving and (member.load == 0 or self._drain_overdue(member)):
            await self._retire(member)

    def _drain_overdue(self, member: Member) -> bool:
        assert member.draining_since is not None
        return self._clock.now() - member.draining_since > self._servers.drain_timeout_s

    async def _lost(self, member: Member, error: Exception) -> None:
        """A dead server says nothing: the group reports its streams and replaces it."""
        if member not in self._members:
            return
        self._members.remove(member)
        log.warning("%s is lost with %d streams: %r", member.server_id, member.load, error)
        self._stopped_counts.append(self._counts_of_dead(member.server_id, member.emitted))
        now = self._clock.now()
        self._lived(member.server_id, now, lost=True)
        for stream in member.streams.values():
            self._emit_lost_stream(member, stream, now)
        self._emit(
            EventType.SERVER_STOPPED,
            now,
            server_id=member.server_id,
            reason="server_lost",
            streams_lost=member.load,
            reported_by="group",
        )
        self._spawn(self._heal())

    def _counts_of_dead(self, server_id: str, reported: dict[str, int]) -> dict[str, Any]:
        """What a dead server sent, from the outbox it kept as it went (`killed` marks them),
        after sending again what Kafka had not settled for it.

        Without the file (a server on another node) the counts it last reported, at most a
        poll old, stand in: its last moments then land uncounted, and the summary says so.
        """
        saved = outbox_counts(outbox_file(self._settings, server_id))
        if saved is None:
            log.warning("%s left no outbox; using its last report", server_id)
            saved = {"emitted": dict(reported), "delivered": {}, "failed": {}}
        self._resend(server_id)
        return {**saved, "killed": True}

    def _resend(self, server_id: str) -> None:
        outbox = outbox_file(self._settings, server_id)
        pending = unsettled(outbox)
        for event in pending:
            self._resender.emit_bytes(
                event.payload, event.key, event.event_type, event_id=event.event_id
            )
            if event.event_id is not None:
                self._resent_ids.append(event.event_id)
        if pending:
            log.warning("%s died with %d events unsettled: sent again", server_id, len(pending))
        outbox.unlink(missing_ok=True)

    def _lived(self, server_id: str, stopped_at: float | None, *, lost: bool) -> None:
        self._lives.setdefault(server_id, {"server_id": server_id, "started_at": None})
        self._lives[server_id].update(stopped_at=stopped_at, lost=lost)

    def ledger(self) -> list[dict[str, Any]]:
        """Every server's life: site times of its start and stop (None while it serves)."""
        return [
            {
                "server_id": life["server_id"],
                "started_at": _site_time_text(life.get("started_at")),
                "stopped_at": _site_time_text(life.get("stopped_at")),
                "lost": bool(life.get("lost", False)),
            }
            for life in self._lives.values()
        ]

    async def _heal(self) -> None:
        """Back to the size the autoscaler last asked for, without waiting for its round."""
        await self.scale_to(self._desired)

    def _emit_lost_stream(self, member: Member, stream: dict[str, Any], now: float) -> None:
        position = float(stream.get("position_s", 0.0))
        if stream.get("playing", True):
            position += max(0.0, now - float(stream.get("site_time", now)))
        self._emit(
            EventType.STREAM_STOPPED,
            now,
            user_id=stream["user_id"],
            session_id=stream["session_id"],
            server_id=member.server_id,
            stream_id=stream["stream_id"],
            video_id=stream["video_id"],
            position_s=round(position, 3),
            reason="server_lost",
            reported_by="group",
        )

    def _emit(self, kind: EventType, now: float, **fields: Any) -> None:
        user_id, session_id = fields.pop("user_id", None), fields.pop("session_id", None)
        self._emitter.emit(
            new_event(
                kind,
                Source.SERVER,
                site_time=now,
                run_id=self._settings.run_id,
                user_id=user_id,
                session_id=session_id,
                **fields,
            )
        )

    # --- routing ------------------------------------------------------------------------

    def _candidates(self) -> list[Member]:
        """Least loaded first; the servers' own 503s are the final word on room.

        The group's counts lag stops users send straight to the servers (until the next
        look), so when every server seems full the least loaded is still asked once.
        """
        capacity = self._servers.capacity
        by_load = sorted(self._serving(), key=lambda m: m.load)
        with_room = [m for m in by_load if m.load < capacity]
        return with_room or by_load[:1]

    async def route(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Least loaded first; a server that refuses or fails passes the stream on."""
        assert self._http is not None
        for member in self._candidates():
            try:
                async with self._http.post(f"{member.url}/streams", json=body) as answer:
                    reply = await answer.json()
            except (aiohttp.ClientError, TimeoutError, ValueError):
                continue  # gone or unwell: the keeper finds out which
            if answer.status == 201:
                self._placed(member, reply, body)
                return 201, {**reply, "server_url": member.url}
            if answer.status != 503:
                return answer.status, reply  # the request itself is wrong
        self._refused += 1
        return 503, {"error": "every server is full"}

    def _placed(self, member: Member, reply: dict[str, Any], body: dict[str, Any]) -> None:
        member.streams[reply["stream_id"]] = {
            "stream_id": reply["stream_id"],
            "user_id": body.get("user_id"),
            "session_id": body.get("session_id"),
            "video_id": body.get("video_id"),
            "position_s": body.get("position_s", 0.0),
            "playing": True,
            "site_time": self._clock.now(),
            "placed_at": time.monotonic(),
        }

    def _router_app(self) -> web.Application:
        async def start_stream(request: web.Request) -> web.Response:
            status, reply = await self.route(await read_object(request))
            return web.json_response(reply, status=status)

        async def health(_: web.Request) -> web.Response:
            return web.json_response(await self.describe())

        app = web.Application()
        app.router.add_post("/streams", start_stream)
        app.router.add_get("/health", health)
        return app

    # --- the outside view ---------------------------------------------------------------

    async def describe(self) -> dict[str, Any]:
        capacity = self._servers.capacity
        serving = self._serving()
        streams = sum(m.load for m in serving)
        return {
            "servers": [
                {
                    "server_id": m.server_id,
                    "url": m.url,
                    "node_id": m.node_id,
                    "pid": m.pid,
                    "state": "serving" if m.serving else "draining",
                    "streams": m.load,
                    "utilisation": round(m.load / capacity, 4),
                }
                for m in self._members
            ],
            "capacity_per_server": capacity,
            "desired_servers": self._desired,
            "min_servers": self._policy.min_servers,
            "max_servers": self._policy.max_servers,
            "target_utilisation": self._policy.target_utilisation,
            "utilisation": round(streams / (len(serving) * capacity), 4) if serving else 0.0,
            "refused_starts": self._refused,
            "last_decision": self._last_decision,
            "emitted": dict(self._emitted()),
        }

    def _emitted(self) -> Counter[str]:
        """Events emitted by type: live servers (as last reported), stopped ones, the group.

        A lost server's events since its last report are missing, as it can no longer say.
        """
        total: Counter[str] = Counter(self._emitter.counts()["emitted"])
        for member in self._members:
            total.update(member.emitted)
        for counts in self._stopped_counts:
            total.update(counts.get("emitted", {}))
        return total

    async def stop(self) -> list[dict[str, dict[str, int]]]:
        """Stop every server; return each one's counts, those already gone and the group's."""
        for task in list(self._tasks):
            task.cancel()
        for member in list(self._members):
            await self._retire(member)
        for server_id in self._abandoned:
            self._stopped_counts.append(self._counts_of_dead(server_id, {}))
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()
        await asyncio.to_thread(self._emitter.close)
        await asyncio.to_thread(self._resender.close)
        resent = {"resent": self._resender.counts(), "resent_ids": self._resent_ids}
        return [*self._stopped_counts, self._emitter.counts(), resent]


def _site_time_text(site_time: float | None) -> str | None:
    """The same text the server's event carries for that moment, so times compare exactly."""
    return None if site_time is None else format_site_time(site_time)
