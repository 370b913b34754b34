"""The data file the replay agent reads: which issue is which real commit, and what each commit changes.

One gzipped JSON file (the agent sandbox shows files named on the agent's command line read-only, nothing
else of ours), written once the issues exist:

    {"version": 1, "base_branch": "main", "test_command": "python -m pytest -q" | null,
     "issues": {"7": 0, ...},                       # issue number → index into commits
     "commits": [{"sha": ..., "subject": ..., "issue": 7,
                  "files": [{"path": ..., "before": base64 | null, "after": base64 | null, "mode": "100644"}]}]}

`before`/`after` are the file's bytes in the commit's first parent and in the commit (null: absent).
`orchestrator/replay/agent.py` reads it with the standard library only.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.replay.history import Commit, History

FORMAT_VERSION = 1


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def commit_entry(commit: Commit, issue: int) -> dict[str, Any]:
    return {
        "sha": commit.sha,
        "subject": commit.subject,
        "issue": issue,
        "files": [
            {"path": c.path, "before": _b64(c.before), "after": _b64(c.after), "mode": c.mode}
            for c in commit.changes
        ],
    }


def write_changes(
    path: Path,
    history: History,
    issue_of: Mapping[str, int],
    base_branch: str,
    test_command: str | None,
) -> Path:
    """Write the agent's data file for the commits that got an issue (`issue_of`: sha → issue number)."""
    commits = [c for c in history.commits if c.sha in issue_of]
    data = {
        "version": FORMAT_VERSION,
        "base_branch": base_branch,
        "test_command": test_command,
        "issues": {str(issue_of[c.sha]): i for i, c in enumerate(commits)},
        "commits": [commit_entry(c, issue_of[c.sha]) for c in commits],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(gzip.compress(json.dumps(data).encode("utf-8"), mtime=0))
    tmp.replace(path)
    return path
