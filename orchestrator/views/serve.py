"""`bin/agentos dashboard serve`: the dashboard's output dir over HTTP on 127.0.0.1 (stdlib http.server).

The page is regenerated when a request finds it older than `max_age_s` (one rebuild at a time; concurrent
requests wait for it and then get the fresh files) and, with `interval_s`, also by a background thread.
Only the three generated files are served; anything else is a 404.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from orchestrator.views.dashboard_page import FILES

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765
DEFAULT_MAX_AGE_S = 30.0


class Rebuilder:
    """Runs `build` at most once per `max_age_s` when asked, one build at a time."""

    def __init__(
        self, build: Callable[[], object], max_age_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.build = build
        self.max_age_s = max_age_s
        self.clock = clock
        self.builds = 0
        self.last_error = ""
        self._built_at: float | None = None
        self._lock = threading.Lock()

    def refresh(self, force: bool = False) -> None:
        with self._lock:
            now = self.clock()
            if not force and self._built_at is not None and now - self._built_at < self.max_age_s:
                return
            try:
                self.build()
                self.last_error = ""
            except OSError as exc:  # a full disk or unwritable dir: serve the last good files
                self.last_error = str(exc)
                log.error("dashboard rebuild failed error=%s", exc)
            self.builds += 1
            self._built_at = now


class _Handler(SimpleHTTPRequestHandler):
    rebuilder: Rebuilder

    def __init__(self, *args: Any, rebuilder: Rebuilder, **kwargs: Any) -> None:
        self.rebuilder = rebuilder
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        name = self.path.split("?", 1)[0].lstrip("/") or "index.html"
        if name not in FILES:
            self.send_error(HTTPStatus.NOT_FOUND, "only index.html, README.md and metrics.json are served")
            return
        self.rebuilder.refresh()
        self.path = "/" + name
        super().do_GET()

    def do_HEAD(self) -> None:
        self.do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        log.info("dashboard http %s", format % args)


class DashboardServer:
    def __init__(
        self,
        out_dir: Path,
        build: Callable[[], object],
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        interval_s: float | None = None,
    ) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.rebuilder = Rebuilder(build, max_age_s)
        handler = partial(_Handler, directory=str(out_dir), rebuilder=self.rebuilder)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> DashboardServer:
        """Build once, then serve (and rebuild on the interval) in daemon threads."""
        self.rebuilder.refresh(force=True)
        self._spawn(self.httpd.serve_forever, "dashboard-http")
        if self.interval_s:
            self._spawn(self._rebuild_loop, "dashboard-rebuild")
        return self

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _rebuild_loop(self) -> None:
        assert self.interval_s
        while not self._stop.wait(self.interval_s):
            self.rebuilder.refresh(force=True)

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def wait(self) -> None:
        """Block until Ctrl-C (then stop)."""
        try:
            while not self._stop.is_set():
                self._stop.wait(1.0)
        except KeyboardInterrupt:
            log.info("dashboard server stopping")
        finally:
            self.stop()
