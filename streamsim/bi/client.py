"""A small client of Superset's REST API: log in, then read and write its objects.

Superset refuses a POST or PUT without the CSRF token of the session and a Referer header
naming itself; the client keeps the session cookie and sends both on every write.
"""

from __future__ import annotations

import http.cookiejar
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from streamsim.errors import StreamsimError

PAGE_SIZE = 100


class SupersetError(StreamsimError):
    """Superset answered with an error, or not at all."""


class SupersetClient:
    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self._headers: dict[str, str] = {}

    def login(self, username: str, password: str) -> None:
        answer = self.call(
            "POST",
            "/api/v1/security/login",
            {"username": username, "password": password, "provider": "db", "refresh": False},
        )
        self._headers["Authorization"] = f"Bearer {answer['access_token']}"
        token = self.call("GET", "/api/v1/security/csrf_token/")["result"]
        self._headers.update({"X-CSRFToken": token, "Referer": self.base_url + "/"})

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=self._headers
        )
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=self.timeout_s) as answer:
                text = answer.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            raise SupersetError(f"{method} {path}: {error.code} {detail}") from None
        except OSError as error:
            raise SupersetError(f"{method} {path}: {error}") from None
        return json.loads(text) if text else None

    def list_all(self, resource: str, columns: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Every object of a kind, page by page (Superset caps a page at 100)."""
        found: list[dict[str, Any]] = []
        page = 0
        while True:
            query = f"(page:{page},page_size:{PAGE_SIZE}"
            if columns:
                query += f",columns:!({','.join(columns)})"
            query += ")"
            path = f"/api/v1/{resource}/?q={urllib.parse.quote(query)}"
            batch = self.call("GET", path)["result"]
            found.extend(batch)
            if len(batch) < PAGE_SIZE:
                return found
            page += 1


def wait_until_up(base_url: str, timeout_s: float) -> bool:
    """Superset's /health answers OK once the app has loaded."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base_url + "/health", timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1.0)
    return False
