"""A raw TCP server on 127.0.0.1 for tests that need a peer below HTTP: every accepted connection goes to a
handler; closing the returned socket stops it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


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
