"""`streamsim config get|set`: the config API from the command line, in plain words."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from streamsim.errors import StreamsimError
from streamsim.orchestrator.api import TOKEN_HEADER, token_of
from streamsim.settings import OrchestratorSettings

TIMEOUT_S = 5.0


def config_url(config: OrchestratorSettings) -> str:
    # An orchestrator listening on every address is reached here through loopback.
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    return f"http://{host}:{config.port}/api/config"


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """`key=value` pairs; a value is read as JSON when it is JSON (5, 0.2), else as text."""
    change: dict[str, Any] = {}
    for assignment in assignments:
        key, equals, text = assignment.partition("=")
        if not equals or not key:
            raise StreamsimError(f"expected key=value, got {assignment!r}")
        try:
            change[key.strip()] = json.loads(text)
        except ValueError:
            change[key.strip()] = text
    return change


def get_config(config: OrchestratorSettings) -> dict[str, Any]:
    return request(config, "GET")


def set_config(config: OrchestratorSettings, assignments: list[str]) -> dict[str, Any]:
    return request(config, "PATCH", parse_assignments(assignments))


def request(
    config: OrchestratorSettings, method: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    url = config_url(config)
    headers = {"Content-Type": "application/json"}
    token = token_of(config)
    if token:
        headers[TOKEN_HEADER] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(call, timeout=TIMEOUT_S) as answer:
            reply: dict[str, Any] = json.loads(answer.read())
            return reply
    except urllib.error.HTTPError as error:
        raise StreamsimError(f"the orchestrator refused: {problem_of(error)}") from None
    except (urllib.error.URLError, OSError) as error:
        raise StreamsimError(
            f"the orchestrator is not running at {url} ({reason_of(error)}); "
            "start it with `streamsim up`"
        ) from None


def problem_of(error: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(error.read()).get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else f"HTTP {error.code}"


def reason_of(error: Exception) -> str:
    reason = getattr(error, "reason", error)
    return str(reason)
