"""`make demo AGENT=claude` with ANTHROPIC_BASE_URL at a local model server: the pinned Claude Code CLI does the
three demo issues (the fake server scripts its tool calls from the issue in the prompt), every PR merges, the
loop stops as soon as every issue is merged or escalated, and each agent run's cost and turns are printed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from orchestrator.demo.agent import recipe_for, result_text
from orchestrator.demo.runner import main
from tests.agents.conftest import npm_cli
from tests.agents.fake_anthropic import stream, tool_results
from tests.agents.fake_http import JsonReply, RecordedRequest, Reply, serving
from tests.agents.scripts import Say, Step, ToolCall

pytestmark = [pytest.mark.slow, pytest.mark.npm]


def write_files(files: dict[str, str]) -> str:
    """One shell command writing every file (quoted heredocs: contents are taken literally)."""
    parts = []
    for path, content in files.items():
        folder = str(Path(path).parent)
        parts.append(f"mkdir -p {folder} && cat > {path} <<'AGENTOS_EOF'\n{content}AGENTOS_EOF")
    return "\n".join(parts)


class DemoModel:
    """A fake Anthropic Messages API that works on whichever demo issue the prompt is about; `refuse`
    names recipes it reports as blocked instead."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.refuse = refuse
        self.requests = 0

    def steps(self, prompt: str) -> list[Step]:
        found = recipe_for(prompt)
        if found is None or found[0] in self.refuse:
            blocked = "STATUS: blocked\nSUMMARY: I cannot do this one.\nBLOCKERS: out of my depth\nBLOCKER_CODE: other\n"
            return [
                ToolCall("Bash", {"command": write_files({".agent_result.md": blocked})}),
                Say("Blocked."),
            ]
        name, files = found
        everything = {**files, ".agent_result.md": result_text(name, files)}
        return [ToolCall("Bash", {"command": write_files(everything), "description": "write"}), Say("Done.")]

    def __call__(self, request: RecordedRequest) -> Reply:
        if "count_tokens" in request.path:
            return JsonReply(200, {"input_tokens": 10})
        body: dict[str, Any] = request.json()
        self.requests += 1
        steps = self.steps(json.dumps(body["messages"][0]))
        return stream(
            body.get("model", "fake"), steps[min(tool_results(body), len(steps) - 1)], self.requests
        )


def run_claude_demo(tmp_path: Path, monkeypatch, capsys, model: DemoModel) -> tuple[int, str]:
    npm_cli("claude")
    with serving(model) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-local")
        code = main(["--agent", "claude", "--workdir", str(tmp_path / "demo"), "--max-seconds", "400"])
    return code, capsys.readouterr().out


def test_make_demo_agent_claude_at_a_local_model_server_merges_all_three(tmp_path, monkeypatch, capsys):
    code, out = run_claude_demo(tmp_path, monkeypatch, capsys, DemoModel())
    assert code == 0, out
    assert "3/3 issues merged and closed, 0 escalated" in out
    assert "tools/npm/node_modules/.bin/claude" in out and "talking to http://127.0.0.1" in out
    finished = re.findall(r"agent claude finished: complete \(\$(\d+\.\d+), (\d+) turns", out)
    assert len(finished) == 3 and all(float(cost) > 0 and int(turns) == 2 for cost, turns in finished)
    assert "demo stopped after" not in out


def test_the_demo_stops_once_every_issue_is_merged_or_escalated(tmp_path, monkeypatch, capsys):
    code, out = run_claude_demo(tmp_path, monkeypatch, capsys, DemoModel(refuse=("is_palindrome",)))
    assert code == 1
    assert "2/3 issues merged and closed, 1 escalated" in out
    assert re.search(r"#\d+\s+Add is_palindrome\(\)\s+-\s+claude\s+escalated", out), out
    assert "demo stopped after" not in out, "it stops as soon as nothing is left, not at its time limit"
