"""The user service's API fuzzed from its OpenAPI description, against a process serving it.

The process (served_users.py) is the front `streamsim up` runs, over replicas held in the
process rather than in Ray actors. The description is loaded from the code: schemathesis
4.32's loader from a fixture reads a pytest internal that pytest 9 no longer has. The
fixture checks that the process serves that same document.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case

from streamsim.stack.processes import free_port, port_open
from streamsim.users.openapi import openapi_document

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# The service runs as a module of the tests folder, which holds it and the replicas it uses.
TESTS = Path(__file__).parent.parent

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def users_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One service for every operation: users the fuzzer creates live on while it goes on."""
    port = free_port()
    log = tmp_path_factory.mktemp("fuzzed-users") / "users.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "users.served_users", str(port), str(free_port())],
            cwd=TESTS,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", port):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the user service did not start in time"
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{url}/openapi.json", timeout=10) as served:
            assert json.load(served) == openapi_document()
        yield url
    finally:
        process.terminate()
        process.wait(30)


@schema.parametrize()
@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_fuzzed_request_gets_a_server_error_or_an_answer_off_its_schema(
    case: Case, users_url: str
) -> None:
    case.call_and_validate(base_url=users_url)
