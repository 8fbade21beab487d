"""Locust viewers that live by streamsim's behaviour model; run by `bench locust` in a child.

`python -m streamsim.bench._locust_viewers ROUTER USERS WARMUP_S SECONDS SPEED` prints one
JSON line: the actions taken and the CPU seconds this process used while measured. Each
viewer draws its next action and its duration from the same model and with the same code
as a streamsim user (`BehaviourModel.chain`, `durations`, the catalogue), and sends the
router and server the same requests; what it leaves out is the events streamsim's users
emit. Locust is imported first: it patches the standard library for gevent on import.
"""

from __future__ import annotations

import json
import random
import resource
import sys
from collections import Counter
from itertools import count
from typing import Any

import gevent
import locust
from locust import FastHttpUser, constant, task
from locust.env import Environment

from streamsim.users.catalogue import Catalogue, Video
from streamsim.users.model import OPEN_ACTIONS, PAGE_ACTIONS, load_model
from streamsim.users.traits import draw_traits

MODEL = load_model()
CATALOGUE = Catalogue(MODEL.catalogue)
SEEDS = count(1)
TALLY: Counter[str] = Counter()
STEERED = {"pause": "pause", "resume": "resume", "seek_forward": "seek", "seek_back": "seek"}


class Viewer(FastHttpUser):
    """One session after another; each step is one action of the model's chain."""

    wait_time = constant(0)
    speed = 1.0  # site seconds per real second, set by main()

    def on_start(self) -> None:
        self._open_site()

    def _open_site(self) -> None:
        self.rng = random.Random(next(SEEDS))
        self.traits = draw_traits(MODEL, CATALOGUE.categories, self.rng)
        self.state = "start"
        self.session_id = f"locust-{self.rng.getrandbits(64):016x}"
        self.video: Video | None = None
        self.position_s = 0.0
        self.stream: dict[str, Any] | None = None

    @task
    def step(self) -> None:
        action = MODEL.chain.next_action(self.state, self.rng)
        TALLY["actions"] += 1
        if action == "close":
            self._stop_stream()
            self._open_site()
            return
        duration = MODEL.durations[action].sample(self.rng)
        self.state, waited = self._perform(action, duration)
        self._wait(waited)
        if self.state in ("video_end", "gave_up"):
            TALLY["actions"] += 1  # the model's own step: lingering on the end screen
            self._wait(MODEL.durations[self.state].sample(self.rng))

    def _wait(self, site_s: float) -> None:
        gevent.sleep(site_s / self.speed)

    def _perform(self, action: str, duration: float) -> tuple[str, float]:
        """Do `action`; the chain's next state and the site seconds it takes."""
        if action in PAGE_ACTIONS or action in OPEN_ACTIONS:
            self._stop_stream()
            if action in OPEN_ACTIONS:
                self.video, self.position_s = CATALOGUE.pick(self.rng), 0.0
            return action, duration
        if action == "play" and not self._start_stream():
            return "gave_up", self.traits.patience_s
        if action in STEERED and self.stream is not None:
            self._steer(STEERED[action], action)
        if action == "pause":
            return action, duration
        return self._played(action, duration * self.traits.watch_scale)

    def _played(self, action: str, seconds: float) -> tuple[str, float]:
        """Play for `seconds`, or until the video ends, as a streamsim user plays."""
        if self.video is None:
            return "gave_up", 0.0
        left = self.video.duration_s - self.position_s
        if seconds < left:
            self.position_s += seconds
            return action, seconds
        self.position_s = self.video.duration_s
        self._stop_stream()
        return "video_end", max(0.0, left)

    def _start_stream(self) -> bool:
        if self.video is None:
            return False
        request = {
            "user_id": self.session_id,
            "session_id": self.session_id,
            "video_id": self.video.video_id,
            "position_s": 0.0,
        }
        with self.client.post("/streams", json=request, catch_response=True) as answer:
            if answer.status_code != 201:
                answer.failure(f"no stream: {answer.status_code}")
                return False
            self.stream = answer.json()
        return True

    def _steer(self, verb: str, action: str) -> None:
        assert self.stream is not None
        body: dict[str, Any] = {}
        if verb == "seek":
            back = action == "seek_back"
            attribute = MODEL.attributes.seek_back_s if back else MODEL.attributes.seek_forward_s
            distance = attribute.sample(self.rng)
            self.position_s = max(0.0, self.position_s + (-distance if back else distance))
            body["to_s"] = round(self.position_s, 3)
        self.client.post(self._stream_url(verb), json=body, name=f"/streams/[id]/{verb}")

    def _stop_stream(self) -> None:
        if self.stream is not None:
            url = self._stream_url("stop")
            self.client.post(url, json={"reason": "user_left"}, name="/streams/[id]/stop")
            self.stream = None

    def _stream_url(self, verb: str) -> str:
        assert self.stream is not None
        return f"{self.stream['server_url']}/streams/{self.stream['stream_id']}/{verb}"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(router: str, users: int, warmup_s: float, seconds: float, speed: float) -> None:
    Viewer.speed = speed
    environment = Environment(user_classes=[Viewer], host=router)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(warmup_s)
    cpu_before, actions_before = cpu_seconds(), TALLY["actions"]
    requests_before = environment.stats.total.num_requests
    gevent.sleep(seconds)
    result = {
        "cpu_s": cpu_seconds() - cpu_before,
        "actions": TALLY["actions"] - actions_before,
        "requests": environment.stats.total.num_requests - requests_before,
        "failures": environment.stats.total.num_failures,
        "users": runner.user_count,
        "locust_version": locust.__version__,
    }
    runner.quit()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6]))
