"""Servers on 127.0.0.1 for tests: a raw TCP server for a peer below HTTP (every accepted connection goes to a
handler; closing the returned socket stops it), and the HTTP server every fake API of the tests runs on."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackTCP:
    """A listening socket on a free port of 127.0.0.1 whose accepted connections go to a handler on a
    background thread (see `serve_loopback`). `close()` stops it for good: it wakes the accept with
    shutdown(), waits for the thread to leave, and only then closes the socket — so the descriptor can never be
    reused by another listener while the thread could still accept on it (a closed-but-accepting thread takes
    the next listener that gets the same descriptor number, and answers its clients)."""

    def __init__(self, handle: Callable[[socket.socket], None], *, thread_each: bool = False) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self._handle = handle
        self._thread_each = thread_each
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def getsockname(self) -> tuple[str, int]:
        address: tuple[str, int] = self.server.getsockname()
        return address

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:  # shut down by close()
                return
            if self._stopped.is_set():
                conn.close()
                return
            if self._thread_each:
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
            else:
                self._handle(conn)

    def close(self) -> None:
        self._stopped.set()
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes an accept() in progress (EINVAL)
        except OSError:
            pass
        self._thread.join(timeout=10)
        self.server.close()


def serve_loopback(handle: Callable[[socket.socket], None], *, thread_each: bool = False) -> LoopbackTCP:
    """Listen on a free port of 127.0.0.1 and hand each accepted connection to `handle`, one after another on
    a background thread (or on a thread of its own with `thread_each`). `handle` closes the connection;
    `close()` on the returned server stops it."""
    return LoopbackTCP(handle, thread_each=thread_each)


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
