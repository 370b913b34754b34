"""Fixtures for the self-improvement loops: a job context on the sandbox forge with a seeded repo, a fixed
clock, metrics events written through the real event log, and a scripted "LLM" agent for print mode."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.demo.runner import REPO, prepare
from orchestrator.state import metrics
from orchestrator.state.runtime import JobContext

NOW = datetime.now(UTC).replace(microsecond=0)
OPS_REPO = "agentos-admin/agent-os-ops"
BOT_TOKEN_ENV = "AGENT_OS_TEST_BOT_TOKEN"
CHAT_ID = -1001

MakeCtx = Callable[..., JobContext]


@pytest.fixture
def make_ctx(sandbox: Any, tmp_path: Path) -> MakeCtx:
    """`make_ctx(issues=[...], loops={...}, llm_answer=None | str, llm_fails=False)` → a JobContext whose
    clock is fixed at NOW (tests move it by assigning ctx.clock)."""

    def build(
        issues: list[dict[str, Any]] | None = None,
        loops: dict[str, Any] | None = None,
        llm_answer: str | None = None,
        llm_fails: bool = False,
        telegram: Any = None,
    ) -> JobContext:
        overrides: dict[str, Any] = {"loops": {"product_urls": [], **(loops or {})}}
        if llm_answer is not None or llm_fails:
            overrides["agents"] = _agents_with_oracle(tmp_path, llm_answer or "", llm_fails)
            overrides["llm"] = {"agent": "oracle", "timeout_minutes": 1}
        if telegram is not None:  # a tests.control.fake_bot_api.FakeBotApi
            overrides["telegram"] = {
                "enabled": True,
                "token_env": BOT_TOKEN_ENV,
                "api_url": telegram.url,
                "allowed_chat_ids": [CHAT_ID],
                "allowed_user_ids": [7],
            }
        setup = prepare(sandbox, tmp_path / "demo", issues=issues or [], overrides=overrides)
        setup.ctx.clock = lambda: NOW
        if telegram is not None:
            setup.ctx.environ[BOT_TOKEN_ENV] = telegram.token
        return setup.ctx

    return build


@pytest.fixture
def bot_api() -> Any:
    from tests.control.fake_bot_api import FakeBotApi

    api = FakeBotApi("123456:AAH-loops-test-token").start()
    yield api
    api.stop()


@pytest.fixture
def ops_repo(sandbox: Any) -> str:
    """A second repository on the sandbox forge, for `loops.ops_repo` (Agent OS's own issues)."""
    from orchestrator.sandbox.seed import seed_repo

    seed_repo(sandbox.api_url, sandbox.token, OPS_REPO)
    return OPS_REPO


def sent_texts(api: Any) -> list[str]:
    return [str(call["text"]) for call in api.calls_to("sendMessage")]


def _agents_with_oracle(tmp_path: Path, answer: str, fails: bool) -> dict[str, Any]:
    """The demo agent plus "oracle": a script that saves its prompt and prints `answer` (or fails)."""
    script = tmp_path / "oracle.py"
    script.write_text(  # the prompt it reads is kept by print mode itself (see oracle_prompt)
        "import sys\nsys.stdin.read()\n" + ("sys.exit(3)\n" if fails else f"print({answer!r})\n")
    )
    demo_root = Path(__file__).resolve().parents[2]
    return {
        "demo": {
            "kind": "script",
            "command": [sys.executable, str(demo_root / "orchestrator" / "demo" / "agent.py")],
            "timeout_minutes": 2,
            "stall_minutes": 1,
        },
        "oracle": {
            "kind": "script",
            "command": [sys.executable, str(script)],
            "timeout_minutes": 1,
            "stall_minutes": 1,
        },
    }


def oracle_prompt(ctx: JobContext) -> str:
    """The last prompt the oracle was given (print mode keeps each prompt in its run directory)."""
    prompts = sorted(ctx.paths.agent_runs.rglob("prompt.md"), key=lambda p: p.stat().st_mtime_ns)
    return prompts[-1].read_text() if prompts else ""


def event(ctx: JobContext, state: str, ago: timedelta = timedelta(hours=1), **fields: Any) -> None:
    """Record one metrics event `ago` before the context's clock, on the demo repo unless `repo` is given."""
    fields.setdefault("repo", REPO)
    metrics.record_event(ctx.paths.metrics, state=state, ts=ctx.clock() - ago, **fields)


def issue_body(goal: str = "Make the widget parser accept empty input") -> str:
    return f"## Goal\n{goal}\n\n## Success Criteria\n- parser tests pass for empty input\n"


def dump(value: Any) -> str:
    return json.dumps(value)
