"""Suite-wide fixtures: a git identity for real git, and the sandbox forge (a real HTTP server)."""

from __future__ import annotations

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
    """A running sandbox forge with its own data directory."""
    from orchestrator.sandbox.server import SandboxForge

    forge = SandboxForge(tmp_path / "sandbox").start()
    try:
        yield forge
    finally:
        forge.stop()
