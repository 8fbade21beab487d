"""The config API: reading, changing, refusing, the token rule, persistence, control events."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from streamsim.clock import SiteClock
from streamsim.errors import StreamsimError
from streamsim.orchestrator.api import STATIC_DIR, check_bind_is_safe, orchestrator_app
from streamsim.orchestrator.live import LIVE_FIELDS, SettingsStore, starting_wave
from streamsim.orchestrator.openapi import openapi_document
from streamsim.orchestrator.service import Orchestrator
from streamsim.settings import OrchestratorSettings

Event = dict[str, Any]
START = {"max_rate": 5.0, "period_s": 60.0, "floor": 1.0, "error_factor": 0.0}


class Harness:
    """An orchestrator (not spawning) with its app, a fake emit and a store in tmp_path."""

    def __init__(self, state: Path, **config: Any) -> None:
        self.events: list[Event] = []
        self.store = SettingsStore(state)
        self.config = OrchestratorSettings(**{**START, **config})
        self.orchestrator = Orchestrator(
            self.config,
            SiteClock.starting_now(1.0),
            "http://127.0.0.1:9",
            self.events.append,
            "r1",
            store=self.store,
        )

    def call(self, script: Callable[[TestClient[Any, Any]], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            app = orchestrator_app(self.orchestrator)
            async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
                return await script(client)

        return asyncio.run(main())

    def send(self, method: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        async def script(client: TestClient[Any, Any]) -> tuple[int, Any]:
            data = body if isinstance(body, str) else json.dumps(body)
            answer = await client.request(method, "/api/config", data=data, headers=headers)
            return answer.status, await answer.json()

        return self.call(script)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_get_config_gives_every_live_setting(harness: Harness) -> None:
    status, body = harness.send("GET", "")

    assert status == 200
    assert body == {**START, "arrivals": "poisson"}


def test_patch_changes_only_what_it_names_and_emits_one_event_per_change(
    harness: Harness,
) -> None:
    status, body = harness.send("PATCH", {"max_rate": 50, "floor": 1.0})

    assert status == 200
    assert body["max_rate"] == 50.0 and body["period_s"] == 60.0
    assert harness.orchestrator.wave.max_rate == 50.0
    assert [(e["setting"], e["old_value"], e["new_value"]) for e in harness.events] == [
        ("max_rate", 5.0, 50.0)
    ]
    event = harness.events[0]
    assert event["event_type"] == "settings_changed" and event["source"] == "orchestrator"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["emitted_at"])


def test_put_replaces_every_setting(harness: Harness) -> None:
    new = {"max_rate": 9.0, "period_s": 10.0, "floor": 2.0, "error_factor": 0.5}
    status, body = harness.send("PUT", {**new, "arrivals": "even"})

    assert status == 200
    assert body == {**new, "arrivals": "even"}
    assert {e["setting"] for e in harness.events} == set(LIVE_FIELDS)


def test_put_without_every_setting_is_refused_naming_what_is_missing(harness: Harness) -> None:
    status, body = harness.send("PUT", {"max_rate": 9.0})

    assert status == 422
    assert {e["field"] for e in body["errors"]} == set(LIVE_FIELDS) - {"max_rate"}
    assert harness.orchestrator.wave.max_rate == 5.0


REFUSED = [
    ({"max_rate": -1}, "max_rate", ">= 0 and <= 10000"),
    ({"max_rate": 20000}, "max_rate", ">= 0 and <= 10000"),
    ({"max_rate": "5"}, "max_rate", ">= 0 and <= 10000"),
    ({"max_rate": True}, "max_rate", ">= 0 and <= 10000"),
    ({"period_s": 0}, "period_s", ">= 1 and <= 86400"),
    ({"error_factor": 1.5}, "error_factor", ">= 0 and <= 1"),
    ({"arrivals": "bursts"}, "arrivals", "one of poisson, even"),
    ({"floor": 6.0}, "floor", "<= max_rate"),
    ({"max_rate": 0.5}, "max_rate", ">= 0 and <= 10000"),
    ({"speed": 3}, "speed", "one of max_rate"),
    ({"max_rate": 50, "period_s": -5}, "period_s", ">= 1 and <= 86400"),
    ("{not json", "body", "a JSON object"),
    ([1, 2], "body", "an object of settings"),
]


@pytest.mark.parametrize(("change", "field", "allowed"), REFUSED)
def test_a_refused_change_names_the_field_and_its_range_and_changes_nothing(
    harness: Harness, change: Any, field: str, allowed: str
) -> None:
    status, body = harness.send("PATCH", change)

    assert status == 422
    assert [e["field"] for e in body["errors"]] == [field]
    assert allowed in body["errors"][0]["allowed"]
    assert field in body["detail"]
    assert harness.orchestrator.wave.model_dump() == {**START, "arrivals": "poisson"}
    assert harness.events == []
    assert not harness.store.path.exists()


def test_a_change_is_saved_and_a_restart_brings_it_back(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    first.send("PATCH", {"max_rate": 42.0, "arrivals": "even"})

    config = OrchestratorSettings()  # nothing set explicitly: defaults only
    restarted = starting_wave(config, SettingsStore(tmp_path).load())

    assert restarted.max_rate == 42.0 and restarted.arrivals == "even"
    assert restarted.period_s == 60.0


def test_a_value_set_explicitly_for_a_start_wins_over_the_saved_one(tmp_path: Path) -> None:
    Harness(tmp_path).send("PATCH", {"max_rate": 42.0, "error_factor": 0.3})

    config = OrchestratorSettings(max_rate=7.0)
    restarted = starting_wave(config, SettingsStore(tmp_path).load())

    assert restarted.max_rate == 7.0 and restarted.error_factor == 0.3


def test_an_unreadable_saved_file_is_ignored(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path)
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{half a fi")

    assert starting_wave(OrchestratorSettings(), store.load()).max_rate == 2.0


def test_beyond_loopback_a_change_needs_the_token(tmp_path: Path) -> None:
    harness = Harness(tmp_path, host="0.0.0.0", token=SecretStr("s3cret"))

    missing = harness.send("PATCH", {"max_rate": 9.0})
    wrong = harness.send("PATCH", {"max_rate": 9.0}, {"Authorization": "Bearer nope"})
    reading = harness.send("GET", "")

    assert missing[0] == wrong[0] == 401
    assert "token" in missing[1]["detail"]
    assert reading[0] == 200 and harness.orchestrator.wave.max_rate == 5.0
    right = harness.send("PATCH", {"max_rate": 9.0}, {"Authorization": "Bearer s3cret"})
    assert right[0] == 200 and harness.orchestrator.wave.max_rate == 9.0


def test_on_loopback_a_change_needs_no_token(tmp_path: Path) -> None:
    harness = Harness(tmp_path, host="127.0.0.1", token=SecretStr("s3cret"))

    assert harness.send("PATCH", {"max_rate": 9.0})[0] == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "example.org", "::"])
def test_it_refuses_to_start_beyond_loopback_without_a_token(host: str) -> None:
    with pytest.raises(StreamsimError, match="STREAMSIM_ORCHESTRATOR__TOKEN"):
        check_bind_is_safe(OrchestratorSettings(host=host))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_it_starts_on_loopback_without_a_token(host: str) -> None:
    check_bind_is_safe(OrchestratorSettings(host=host))


def test_it_starts_beyond_loopback_with_a_token() -> None:
    check_bind_is_safe(OrchestratorSettings(host="0.0.0.0", token=SecretStr("t")))


def test_the_openapi_document_describes_exactly_the_routes_served(harness: Harness) -> None:
    app = orchestrator_app(harness.orchestrator)
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
        if not route.resource.canonical.startswith("/static")
    }
    document = openapi_document()
    described = {(method, path) for path, item in document["paths"].items() for method in item}

    assert described == served
    settings = document["components"]["schemas"]["Settings"]
    assert tuple(settings["properties"]) == LIVE_FIELDS
    assert settings["properties"]["max_rate"]["maximum"] == 10_000


def test_the_openapi_document_is_served(harness: Harness) -> None:
    async def script(client: TestClient[Any, Any]) -> Any:
        return await (await client.get("/api/openapi.json")).json()

    assert harness.call(script) == openapi_document()


def test_the_page_and_everything_it_loads_come_from_the_orchestrator(harness: Harness) -> None:
    async def script(client: TestClient[Any, Any]) -> list[tuple[str, int]]:
        page = await (await client.get("/")).text()
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        return [("/", 200)] + [(a, (await client.get(a)).status) for a in assets]

    loaded = harness.call(script)

    assert len(loaded) >= 3 and all(status == 200 for _, status in loaded)
    assert all(path.startswith("/") and not path.startswith("//") for path, _ in loaded)
    for asset in STATIC_DIR.iterdir():
        assert not re.search(r"https?://", asset.read_text()), f"{asset.name} reaches out"


def test_stats_give_the_rates_counts_and_the_token_rule(harness: Harness) -> None:
    async def script(client: TestClient[Any, Any]) -> Any:
        return await (await client.get("/api/stats")).json()

    stats = harness.call(script)

    assert stats["requested_rate"] == pytest.approx(1.0, abs=0.01)  # the wave's floor
    assert {"achieved_rate", "phase", "wave", "in_flight", "counts", "site"} <= set(stats)
    assert stats["token_required"] is False


def test_json_is_read_as_json_whatever_charset_the_request_names(harness: Harness) -> None:
    headers = {"Content-Type": "application/json; charset=no-such-charset"}

    status, answer = harness.send("PATCH", '{"floor": 2}', headers)

    assert (status, answer["floor"]) == (200, 2.0)


def test_a_body_nested_deeper_than_the_parser_goes_is_refused_and_changes_nothing(
    harness: Harness,
) -> None:
    status, answer = harness.send("PATCH", "[" * 100_000 + "]" * 100_000)

    assert status == 422
    assert [e["field"] for e in answer["errors"]] == ["body"]
    assert harness.orchestrator.wave.model_dump() == {**START, "arrivals": "poisson"}
