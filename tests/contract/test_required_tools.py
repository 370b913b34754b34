"""CI cannot pass with the contract tools missing: with AGENTOS_REQUIRE_TOOLS=1 (set by .ci/run) a test marked
`npm` or `gh` that skips for a missing tool fails; without it, it skips with its reason (a developer's machine).

Proves it with a real pytest run in a subprocess over a throw-away test file, using the suite's own hook.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from orchestrator.edges.process import run

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import pytest

@pytest.mark.npm
def test_needs_prism():
    pytest.skip("prism is not installed; run `make npm-tools`")

@pytest.mark.gh
def test_needs_gh():
    pytest.skip("gh is not installed")

def test_unmarked_skip():
    pytest.skip("nothing to do with tools")
"""


def _pytest(tmp_path: Path, require: bool) -> tuple[int, str]:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "AGENTOS_REQUIRE_TOOLS"}
    if require:
        env["AGENTOS_REQUIRE_TOOLS"] = "1"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rA",
        "-p",
        "tests.conftest",
        "-p",
        "no:cacheprovider",
        str(probe),
    ]
    result = run(argv, cwd=ROOT, env=env, timeout=120)
    assert result.returncode is not None
    return result.returncode, result.stdout


@pytest.mark.parametrize("require", [True, False])
def test_a_missing_tool_fails_only_when_required(tmp_path: Path, require: bool) -> None:
    code, output = _pytest(tmp_path, require)
    if require:
        assert code == 1, output
        assert (
            "2 failed, 1 skipped" in output and "required tool is missing: prism is not installed" in output
        )
    else:
        assert code == 0 and "3 skipped" in output, output
