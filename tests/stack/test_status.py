"""`streamsim status`'s line for the server group."""

from __future__ import annotations

from streamsim.stack.status import describe_servers


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
