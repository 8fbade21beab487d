"""CPU and memory per part of a stack, from looks at its process trees."""

from __future__ import annotations

import os

import pytest

from streamsim.bench._parts import LAUNCHER, PartMeter, Seen, look, part_of

pytestmark = pytest.mark.timeout(10)


def test_ray_workers_go_by_the_actor_they_host() -> None:
    assert part_of("ray", "ray::UserReplicaActor.create") == "users"
    assert part_of("ray", "ray::ServerActor") == "servers"
    assert part_of("ray", "/venv/bin/raylet --node") == "ray"
    assert part_of("sink", "ray::ServerActor") == "sink"


def test_cpu_is_counted_from_the_first_look_per_part() -> None:
    meter = PartMeter()
    meter.update([Seen(1, 0, "sink", 10.0, 100), Seen(2, 0, "kafka", 50.0, 300)])

    used = meter.update([Seen(1, 0, "sink", 12.5, 100), Seen(2, 0, "kafka", 51.0, 500)])

    assert used == {"sink": 2.5, "kafka": 1.0}
    assert meter.rss_peak["kafka"] == 500


def test_a_reaped_child_is_counted_once() -> None:
    """Seen alive with 3 s, it ends with 4 s, which then show in its parent's children times."""
    meter = PartMeter()
    meter.update([Seen(10, 1, "dagster", 1.0, 0), Seen(11, 10, "dagster", 3.0, 0)])

    used = meter.update([Seen(10, 1, "dagster", 1.0 + 4.0, 0)])

    assert used == {"dagster": 1.0}
    assert meter.cpu_s["dagster"] == 1.0


def test_summary_gives_cores_and_memory_in_mebibytes() -> None:
    meter = PartMeter()
    meter.update([Seen(1, 0, "sink", 0.0, 2**20)])
    meter.update([Seen(1, 0, "sink", 30.0, 3 * 2**20)])

    assert meter.summary(60.0)["sink"] == {
        "cpu_s": 30.0,
        "cores": 0.5,
        "rss_peak_mb": 3.0,
        "rss_last_mb": 3.0,
    }


def test_the_launcher_counts_only_its_own_process() -> None:
    seen = look({LAUNCHER: os.getppid(), "sink": os.getpid()})

    parts = {sight.pid: sight.part for sight in seen}
    assert parts[os.getpid()] == "sink"
    assert parts[os.getppid()] == LAUNCHER


def test_a_root_that_is_gone_is_skipped() -> None:
    assert look({"sink": 2**22 + 7}) == []
