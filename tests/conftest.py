"""Suite-wide fixtures: a git identity for real git, and the sandbox forge (a real HTTP server)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Real git runs in many tests; a fresh machine has no identity configured.
for _key, _value in (
    ("GIT_AUTHOR_NAME", "Agent OS Tests"),
    ("GIT_AUTHOR_EMAIL", "tests@agent-os.invalid"),
    ("GIT_COMMITTER_NAME", "Agent OS Tests"),
    ("GIT_COMMITTER_EMAIL", "tests@agent-os.invalid"),
):
    os.environ.setdefault(_key, _value)

ROOT = Path(__file__).resolve().parents[1]
NPM_BIN = ROOT / "tools" / "npm" / "node_modules" / ".bin"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[object]:
    """A running sandbox forge with its own data directory. Its CI runs the pushed trees (agent-written code in
    the e2e and hostile-agent tests) contained: in a bubblewrap sandbox without network, as it would on a
    machine of ours (orchestrator/containment/forge_ci.py)."""
    from orchestrator.containment.forge_ci import ContainedCI
    from orchestrator.sandbox.server import SandboxForge

    forge = SandboxForge(tmp_path / "sandbox", ci_runner=ContainedCI()).start()
    try:
        yield forge
    finally:
        forge.stop()


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    """Whatever handlers and level a test adds to the root logger are gone after it (the handlers closed)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


# In CI (`.ci/run` exports AGENTOS_REQUIRE_TOOLS=1) the pinned npm tools and gh are required: a test that would
# skip because one is missing fails instead, so a broken install cannot turn 40-odd contract and CLI tests
# into silent skips. On a developer's machine they skip with a reason saying how to install them.
REQUIRED_TOOL_MARKERS = ("npm", "gh")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not report.skipped or not os.environ.get("AGENTOS_REQUIRE_TOOLS"):
        return
    if any(item.get_closest_marker(marker) for marker in REQUIRED_TOOL_MARKERS):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = str(reason).removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"AGENTOS_REQUIRE_TOOLS is set and a required tool is missing: {reason}"
