"""`streamsim status`'s lines for the server group and Superset."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from streamsim.settings import Settings, load_settings
from streamsim.stack import status
from streamsim.stack.processes import free_port
from streamsim.stack.status import (
    WAREHOUSE_STALE_S,
    Health,
    check_superset,
    check_warehouse,
    describe_orchestrator,
    describe_servers,
)

from .one_page import one_page


def test_the_servers_line_shows_the_group_against_its_desired_size_then_each_server() -> None:
    body = {
        "servers": [
            {"server_id": "server-1", "streams": 8, "utilisation": 0.8, "state": "serving"},
            {"server_id": "server-2", "streams": 2, "utilisation": 0.2, "state": "draining"},
        ],
        "desired_servers": 1,
        "utilisation": 0.8,
    }

    assert describe_servers(body) == (
        "1 serving (desired 1), 10 streams, 80%: "
        "server-1 8 streams (80%), server-2 2 streams (20%, draining)"
    )


def test_an_empty_group_says_so() -> None:
    assert describe_servers({"servers": []}) == "no servers"


def test_the_orchestrator_line_names_its_counts_in_words() -> None:
    body = {"requested_rate": 4.2, "counts": {"arrivals": 10, "created": 9, "refused": 1}}

    assert describe_orchestrator(body) == "rate 4.2/s; arrivals 10, created 9, refused 1"
    assert describe_orchestrator({"requested_rate": 0.0, "counts": {}}) == (
        "rate 0.0/s; no arrivals yet"
    )


@pytest.fixture
def superset_like() -> Iterator[str]:
    """Answers as Superset's /health does: the two bytes OK."""
    with one_page("/health", b"OK") as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.timeout(30)
def test_the_superset_line_is_up_with_its_url_when_its_health_page_answers_ok(
    superset_like: str,
) -> None:
    health = check_superset({"urls": {"Superset": superset_like}})

    assert health == Health("superset", True, f"{superset_like} up")


@pytest.mark.timeout(30)
def test_the_superset_line_is_down_when_nothing_answers_at_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    health = check_superset({"urls": {"Superset": url}})

    assert health == Health("superset", False, f"not answering at {url}")


@pytest.mark.timeout(30)
def test_the_superset_line_says_it_was_not_started_when_the_run_has_no_superset() -> None:
    health = check_superset({"urls": {"Dagster": "http://127.0.0.1:1"}})

    assert health.healthy
    assert "not started" in health.detail


def test_the_status_report_has_a_superset_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status, "check_http", lambda component, *_: Health(component, True, ""))
    monkeypatch.setattr(status, "check_port", lambda component, _: Health(component, True, ""))
    monkeypatch.setattr(status, "check_sink", lambda *_: Health("sink", True, ""))
    monkeypatch.setattr(status, "check_warehouse", lambda *_: Health("warehouse", True, ""))

    report = status.collect(Settings(), {"urls": {}, "pids": {}})

    assert [h.component for h in report][-1] == "superset"


def test_the_warehouse_line_counts_the_runs_events_and_says_how_old_the_copy_is(
    tmp_path: Path,
) -> None:
    settings = _serving_copy_of(tmp_path, ["run-a", "run-a", "run-b"])
    now = settings.serving_path.stat().st_mtime + 5

    health = check_warehouse(settings, "run-a", now=now)

    assert health == Health(
        "warehouse", True, "2 events of run run-a queryable, 3 in all; published 5 s ago"
    )


def test_a_serving_copy_nobody_republishes_is_a_stale_warehouse(tmp_path: Path) -> None:
    settings = _serving_copy_of(tmp_path, ["run-a"])
    long_ago = time.time() - WAREHOUSE_STALE_S - 60
    os.utime(settings.serving_path, (long_ago, long_ago))

    health = check_warehouse(settings, "run-a")

    assert not health.healthy
    assert "stale" in health.detail


def test_there_is_no_warehouse_before_the_first_copy(tmp_path: Path) -> None:
    health = check_warehouse(load_settings(state_dir=tmp_path), "run-a")

    assert health == Health(
        "warehouse", False, "no serving copy yet (the first pipeline run makes it)"
    )


def _serving_copy_of(state: Path, run_ids: list[str]) -> Settings:
    settings = load_settings(state_dir=state)
    settings.serving_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.serving_path)) as db:
        db.execute("CREATE SCHEMA staging")
        db.execute("CREATE TABLE staging.events AS SELECT UNNEST(?) AS run_id", [run_ids])
    return settings
