"""A job's logging set up when its first record is written, not before.

Setting up a job's log (the key=value file handler, and the redactor every handler runs: the secret-shape
patterns and the known secret values) costs a cron tick ~10 ms of its ~100 ms. An idle tick writes no record,
so it should not pay for a log it never writes to. `defer(setup)` puts a stand-in handler on the root logger at
the job's level; the first record that reaches it runs `setup` (which adds the real, redacting handlers to the
root logger) and the root logger hands that same record on to them: the stand-in sits first in the handler
list, and `Logger.callHandlers` walks the list as it is when it reaches each entry (tests/test_deferred_logging.py
holds the first record to exactly one line). Records below the level never reach it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


class SetUpOnFirstRecord(logging.Handler):
    """Stands in for the job's handlers until a record arrives; after that it does nothing."""

    def __init__(self, setup: Callable[[], None]) -> None:
        super().__init__(logging.NOTSET)
        self._setup: Callable[[], None] | None = setup
        self._setup_lock = threading.Lock()

    def handle(self, record: logging.LogRecord) -> bool:
        with self._setup_lock:
            setup, self._setup = self._setup, None
        if setup is not None:
            setup()
        return False  # this handler itself writes nothing

    def emit(self, record: logging.LogRecord) -> None:
        return


def defer(setup: Callable[[], None], level: int = logging.INFO) -> SetUpOnFirstRecord:
    """Run `setup` when the first record at `level` or above is logged (through the root logger)."""
    root = logging.getLogger()
    root.setLevel(level)
    for earlier in [h for h in root.handlers if isinstance(h, SetUpOnFirstRecord)]:
        root.removeHandler(earlier)  # an earlier job of this process: its setup is superseded
    standin = SetUpOnFirstRecord(setup)
    root.handlers.insert(0, standin)  # first: the real handlers `setup` appends come after it
    return standin
