"""A loopback HTTP server with one page, standing in for a part of the stack in tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def one_page(path: str, body: bytes) -> Iterator[int]:
    """Serve `body` at GET `path` (404 elsewhere) on a free loopback port, which it yields."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == path
            answer = body if found else b"not found"
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a test's output is its assertions."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
