"""Servers on 127.0.0.1 for tests: a raw TCP server for a peer below HTTP (every accepted connection goes to a
handler; closing the returned socket stops it), and the HTTP server every fake API of the tests runs on."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve_loopback(handle: Callable[[socket.socket], None], *, thread_each: bool = False) -> socket.socket:
    """Listen on a free port of 127.0.0.1 and hand each accepted connection to `handle`, one after another on
    a background thread (or on a thread of its own with `thread_each`). `handle` closes the connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # the test closed the server
                return
            if thread_each:
                threading.Thread(target=handle, args=(conn,), daemon=True).start()
            else:
                handle(conn)

    threading.Thread(target=accept, daemon=True).start()
    return server


class LoopbackHTTP:
    """A stdlib HTTP server on a free port of 127.0.0.1 serving `handler`, one thread per request, from a
    background thread between start() and stop()."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> LoopbackHTTP:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def request_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The body of the request `handler` serves: Content-Length bytes (none without the header)."""
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""
