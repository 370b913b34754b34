"""Print-mode LLM calls (the verifier's judge, issue formatting, the loops) run in the sandbox too, in an empty
scratch directory with no repository, and see none of the orchestrator's secrets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from orchestrator.agents import AgentSpec, print_mode
from tests.containment.conftest import require_bwrap
from tests.security.fake_secrets import GITHUB_CLASSIC

LOOK = """
import json, os, subprocess, sys
sys.stdin.read()
git = subprocess.run(["git", "rev-parse", "--git-dir"], capture_output=True, text=True)
print(json.dumps({"uid": os.getuid(), "files": sorted(os.listdir(".")), "git": git.returncode,
                  "cwd": os.getcwd(), "env": sorted(os.environ)}))
"""


def test_print_mode_runs_contained_in_an_empty_scratch_directory(tmp_path: Path) -> None:
    require_bwrap()
    spec = AgentSpec(name="judge", kind="script", command=(sys.executable, "-c", LOOK), timeout_s=30)
    environ = {"PATH": "/usr/local/bin:/usr/bin:/bin", "GITHUB_TOKEN": GITHUB_CLASSIC}
    answer = json.loads(
        print_mode(spec, "judge this diff", tmp_path / "runtime" / "agent-runs" / "judge", environ)
    )
    assert answer["uid"] == 1000
    assert answer["files"] == [] and answer["git"] != 0, "no repository, nothing but an empty directory"
    assert "GITHUB_TOKEN" not in answer["env"]
