"""CPU seconds and resident memory of a running stack, by part, from its process trees.

The stack record (`stack.json`) names the root process of each part; everything below a
root belongs to that part, except Ray's workers, which are told apart by the actor class
in their process title (users, servers) so the simulators are not lumped in with Ray.
Short-lived children (Dagster launches a process per run) often end between two looks;
their parent's `children_*` times hold them once reaped, and what was already counted
while they lived is taken off again so nothing is counted twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import psutil

# Root names in the stack record, and the part each belongs to.
PART_OF_ROOT = {
    "kafka": "kafka",
    "sink": "sink",
    "ray-head": "ray",
    "orchestrator": "orchestrator",
    "dagster-webserver": "dagster",
    "dagster-daemon": "dagster",
    "superset": "superset",
}
# Ray workers by the actor they host (their process title starts `ray::<Class>`).
PART_OF_ACTOR = {
    "UserReplicaActor": "users",
    "UsersFront": "users",
    "ServerActor": "servers",
    "ServerGroup": "servers",
}
PARTS = ("kafka", "sink", "ray", "users", "servers", "orchestrator", "dagster", "superset")
LAUNCHER = "launcher"  # `streamsim up` itself: it drives Ray and runs the last pipeline pass


@dataclass(frozen=True)
class Seen:
    """One process at one look."""

    pid: int
    parent: int
    part: str
    cpu_s: float  # its own user + system time, and that of its children it has reaped
    rss: int


def part_of(root_part: str, title: str) -> str:
    """The part of one process under a root; Ray's workers go by their actor."""
    if root_part != "ray":
        return root_part
    for actor, part in PART_OF_ACTOR.items():
        if actor in title:
            return part
    return "ray"


def look(roots: Mapping[str, int]) -> list[Seen]:
    """Every live process under the named roots, with its part; vanished ones are skipped.

    The launcher is the parent of every other root, so only its own process counts as it.
    """
    seen: dict[int, Seen] = {}
    for name, pid in roots.items():
        root_part = PART_OF_ROOT.get(name, name)
        try:
            root = psutil.Process(pid)
            tree = [root] if name == LAUNCHER else [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for process in tree:
            sight = None if process.pid in seen else _sight(process, root_part)
            if sight is not None:
                seen[sight.pid] = sight
    return list(seen.values())


def _sight(process: psutil.Process, root_part: str) -> Seen | None:
    try:
        with process.oneshot():
            times = process.cpu_times()
            title = " ".join(process.cmdline()[:2])
            return Seen(
                pid=process.pid,
                parent=process.ppid(),
                part=part_of(root_part, title),
                cpu_s=times.user + times.system + times.children_user + times.children_system,
                rss=process.memory_info().rss,
            )
    except psutil.Error:
        return None


@dataclass
class PartMeter:
    """CPU seconds each part used since the first look, and its memory at the latest."""

    cpu_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    rss_peak: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rss_last: dict[str, int] = field(default_factory=dict)
    _last: dict[int, Seen] = field(default_factory=dict)

    def update(self, seen: Iterable[Seen]) -> dict[str, float]:
        """Take one look into account; returns the CPU seconds each part used since the last."""
        now = {s.pid: s for s in seen}
        used: dict[str, float] = defaultdict(float)
        for pid, sight in now.items():
            before = self._last.get(pid)
            if before is not None:
                used[sight.part] += max(0.0, sight.cpu_s - before.cpu_s)
        for pid, gone in self._last.items():
            # A reaped child's whole life reappears in its parent's children times.
            if pid not in now and gone.parent in now and gone.parent in self._last:
                used[now[gone.parent].part] -= gone.cpu_s
        for part, seconds in used.items():
            self.cpu_s[part] += seconds
        self._last = now
        self._note_memory(now.values())
        return {part: round(seconds, 2) for part, seconds in used.items()}

    def _note_memory(self, seen: Iterable[Seen]) -> None:
        rss: dict[str, int] = defaultdict(int)
        for sight in seen:
            rss[sight.part] += sight.rss
        self.rss_last = dict(rss)
        for part, total in rss.items():
            self.rss_peak[part] = max(self.rss_peak[part], total)

    def summary(self, wall_s: float) -> dict[str, dict[str, float]]:
        """Per part: CPU seconds, cores (CPU seconds per wall second), peak and last RSS."""
        parts = sorted(set(self.cpu_s) | set(self.rss_peak))
        return {
            part: {
                "cpu_s": round(self.cpu_s.get(part, 0.0), 1),
                "cores": round(self.cpu_s.get(part, 0.0) / wall_s, 3) if wall_s > 0 else 0.0,
                "rss_peak_mb": round(self.rss_peak.get(part, 0) / 2**20, 1),
                "rss_last_mb": round(self.rss_last.get(part, 0) / 2**20, 1),
            }
            for part in parts
        }
