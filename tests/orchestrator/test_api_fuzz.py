"""The orchestrator's API fuzzed from its own OpenAPI description, against the real process.

The description is loaded from the code rather than from the running process: schemathesis
4.32's loader from a fixture reads a pytest internal that pytest 9 no longer has. The fixture
checks that the process serves that same document.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, Response
from schemathesis.checks import positive_data_acceptance

from streamsim.orchestrator.openapi import openapi_document
from streamsim.stack.processes import free_port

from .conftest import OrchestratorProcess, orchestrator_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def orchestrator_url(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One process for every operation: what a fuzzed change leaves, the next one meets."""
    state = tmp_path_factory.mktemp("fuzzed-orchestrator")
    port = free_port()
    env = orchestrator_env(state, port, STREAMSIM_KAFKA__BOOTSTRAP_SERVERS=broker)
    process = OrchestratorProcess(env, port, state / "orchestrator.log")
    process.start()
    try:
        with urllib.request.urlopen(f"{process.url}/api/openapi.json", timeout=10) as answer:
            assert json.load(answer) == openapi_document()
        yield process.url
    finally:
        process.stop()


@schema.parametrize()
@settings(
    max_examples=300, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
def test_no_fuzzed_request_gets_a_server_error_or_an_answer_off_its_schema(
    case: Case, orchestrator_url: str
) -> None:
    answer = case.call(base_url=orchestrator_url)

    if refused_only_for_the_floor_above_the_peak(answer):
        case.validate_response(answer, excluded_checks=[positive_data_acceptance])
    else:
        case.validate_response(answer)


# JSON Schema cannot compare two fields, so the description says "at most max_rate" in words;
# a body valid field by field may still put the floor above the peak (the one in the body, or,
# for PATCH, the one in force), and refusing it is the documented 422.


def refused_only_for_the_floor_above_the_peak(answer: Response) -> bool:
    if answer.status_code != 422:
        return False
    errors = answer.json().get("errors", [])
    return bool(errors) and all(
        error["field"] in ("floor", "max_rate") and "must not exceed max_rate" in error["message"]
        for error in errors
    )
