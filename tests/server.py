"""The tests' static HTTP server: serves a mirror directory on 127.0.0.1, stops with its block.

Every family's test mirror (tests/apt/aptrepo.py, tests/yum/yumrepo.py, tests/apk/apkrepo.py)
is served by it; it listens on the loopback only, on a free port, in a daemon thread.
"""
from __future__ import annotations

import http.server
import threading
from pathlib import Path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


class Server:
    """A static HTTP server for `directory` on 127.0.0.1 (a free port), in a daemon thread."""

    def __init__(self, directory: Path) -> None:
        handler = lambda *a, **k: _QuietHandler(*a, directory=str(directory), **k)  # noqa: E731
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released): a connection to it
    is refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
