"""`make demo`: the whole loop, offline, on the built-in sandbox forge.

Starts the sandbox on a free port, seeds a small Python repo (textkit) with tests, a Projects v2 board and three
Ready issues, writes a config for it, then runs dispatcher → queue → pr_monitor ticks until every issue is merged
or escalated, printing each step (with each agent run's cost and turns) as it happens and a summary at the end.

`make demo AGENT=claude|codex|gemini` runs a real agent CLI: the pinned one under tools/npm when installed, else
the one on PATH. Its base-URL variable points it at another endpoint, e.g. a local model server:
ANTHROPIC_BASE_URL (claude), GOOGLE_GEMINI_BASE_URL (gemini), CODEX_BASE_URL or OPENAI_BASE_URL (codex's
provider base_url, including the /v1).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.config import parse_config
from orchestrator.edges.log import setup_logging
from orchestrator.jobs import dispatcher, pr_monitor, queue
from orchestrator.jobs.entry import build_context
from orchestrator.policy.retry import Outcome
from orchestrator.sandbox.client_config import TOKEN_ENV as TOKEN_ENV
from orchestrator.sandbox.client_config import client_environ, github_section
from orchestrator.state import metrics
from orchestrator.state.runtime import JobContext

HERE = Path(__file__).resolve().parent
NPM_BIN = HERE.parents[1] / "tools" / "npm" / "node_modules" / ".bin"
REPO = "agentos-admin/textkit"
KEY_ENV = {"claude": "ANTHROPIC_API_KEY", "codex": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}
BASE_URL_ENV = {
    "claude": ("ANTHROPIC_BASE_URL",),
    "codex": ("CODEX_BASE_URL", "OPENAI_BASE_URL"),
    "gemini": ("GOOGLE_GEMINI_BASE_URL",),
}


@dataclass
class IssueProgress:
    number: int
    title: str
    branch: str = ""
    agent: str = ""
    pr: int | None = None
    started: float = field(default_factory=time.monotonic)
    merged_after: float | None = None
    closed: bool = False
    escalated: str = ""  # the reason, once escalated

    @property
    def result(self) -> str:
        return "merged" if self.closed else "escalated" if self.escalated else "open"


def say(text: str) -> None:
    print(text, flush=True)


def real_agent_config(agent: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """A real CLI for the demo: the pinned one under tools/npm when present, pointed at the endpoint its
    base-URL variable names (when set)."""
    pinned = NPM_BIN / agent
    config: dict[str, Any] = {
        "kind": agent,
        "command": [str(pinned) if os.access(pinned, os.X_OK) else agent],
        "api_key_env": KEY_ENV.get(agent),
        "timeout_minutes": 20,
        "stall_minutes": 5,
    }
    base_url = next((environ[name] for name in BASE_URL_ENV.get(agent, ()) if environ.get(name)), None)
    if base_url:
        config["base_url"] = base_url
    return config


def demo_config(
    forge: Any,
    clone_url: str,
    project_number: int,
    runtime: Path,
    agent: str,
    environ: Mapping[str, str] = os.environ,
) -> dict[str, Any]:
    python = sys.executable
    agents: dict[str, Any] = {
        # the sandbox shows the agent its own script read-only, and nothing else of this checkout
        "read_only_paths": [str(HERE / "agent.py")],
        "demo": {
            "kind": "script",
            "command": [python, str(HERE / "agent.py")],
            "timeout_minutes": 2,
            "stall_minutes": 1,
        },
    }
    if agent != "demo":
        agents[agent] = real_agent_config(agent, environ)
    return {
        "runtime_dir": str(runtime),
        "github": github_section(forge, request_timeout_seconds=10),
        "git": {"author_name": "Agent OS demo", "author_email": "demo@agent-os.invalid"},
        "repos": [
            {
                "key": "textkit",
                "owner": "agentos-admin",
                "name": "textkit",
                "clone_url": clone_url,
                "base_branch": "main",
                "test_command": f"{python} -m pytest -q",
                "test_timeout_seconds": 120,
                "board": {"mode": "project", "project_number": project_number},
            }
        ],
        "agents": agents,
        "routing": {"default": [agent]},
        "limits": {"max_parallel_workers": 2, "lease_seconds": 120, "wedge_hours": 1},
    }


@dataclass
class DemoSetup:
    ctx: JobContext
    seeded: Any  # orchestrator.sandbox.seed.SeedResult
    issues: list[dict[str, Any]]
    forge: Any = None  # the SandboxForge it runs on (tests look into its bare repositories)


def prepare(
    forge: Any,
    workdir: Path,
    agent: str = "demo",
    issues: list[dict[str, Any]] | None = None,
    overrides: dict[str, Any] | None = None,
) -> DemoSetup:
    """Seed the demo repo, board and issues on a running sandbox and build a job context for it.

    `overrides` replaces top-level config sections (e.g. agents, routing, limits) — the tests use it."""
    from orchestrator.sandbox.seed import seed_repo

    if issues is None:
        issues = yaml.safe_load((HERE / "issues.yaml").read_text())
    seeded = seed_repo(
        forge.api_url,
        forge.token,
        REPO,
        source_dir=HERE / "repo_template",
        ci_command=f"{sys.executable} -m pytest -q",
        issues=issues,
        board=True,
        ca_bundle=getattr(forge, "ca_bundle", None),
    )
    data = demo_config(forge, seeded.clone_url, seeded.project_number or 1, workdir / "runtime", agent)
    data.update(overrides or {})
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    config = parse_config(data, source=str(workdir / "config.yaml"), base_dir=workdir)
    ctx = build_context(config, environ=client_environ(forge))
    return DemoSetup(ctx, seeded, issues, forge)


def run_demo(workdir: Path, agent: str, max_seconds: float) -> int:
    from orchestrator.containment.forge_ci import ContainedCI
    from orchestrator.sandbox.server import SandboxForge

    if agent != "demo" and not os.environ.get(KEY_ENV.get(agent, "")):
        say(
            f"{agent}: set {KEY_ENV.get(agent)} first (any value works for a local model server named by "
            f"{' or '.join(BASE_URL_ENV.get(agent, ()))})"
        )
        return 2
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    say(f"Agent OS demo — everything runs locally in {workdir}")
    if agent == "demo":
        say("agent: the built-in scripted demo agent (deterministic, no model, no network)")
    else:
        chosen = real_agent_config(agent, os.environ)
        where = chosen.get("base_url") or "the vendor's API"
        say(f"agent: the real {agent} CLI ({chosen['command'][0]}) talking to {where}")
    t0 = time.monotonic()
    # the forge's CI runs the agents' pushed code: contained, like our own test step
    with SandboxForge(workdir / "sandbox", ci_runner=ContainedCI()).start() as forge:
        say(f"sandbox forge listening on {forge.url} (GitHub API at {forge.api_url})")
        setup = prepare(forge, workdir, agent)
        setup_logging("demo", setup.ctx.paths.logs, logging.INFO, stream=io.StringIO())
        say(f"logs: {setup.ctx.paths.logs / 'demo.log'}")
        say(
            f"seeded {REPO}: {len(setup.issues)} Ready issues on board #{setup.seeded.project_number}, sandbox CI on"
        )
        progress = {
            n: IssueProgress(n, i["title"])
            for n, i in zip(setup.seeded.issue_numbers, setup.issues, strict=True)
        }
        ok = _loop(setup.ctx, forge, progress, t0, max_seconds)
        _summary(progress, setup.ctx, time.monotonic() - t0)
    return 0 if ok else 1


def _loop(ctx: JobContext, forge: Any, progress: dict[int, IssueProgress], t0: float, limit: float) -> bool:
    events = _EventTail(ctx.paths.metrics)
    stop = threading.Event()

    def follow() -> None:  # print steps as they happen, also while the queue is busy
        while not stop.wait(0.2):
            events.show(progress, t0)

    printer = threading.Thread(target=follow, daemon=True)
    printer.start()
    try:
        while time.monotonic() - t0 < limit:
            errors = dispatcher.run(ctx).errors + queue.run(ctx).errors
            forge.wait_ci_idle(timeout=120)
            events.show(progress, t0)
            _show_ci(ctx, progress, t0)
            errors += pr_monitor.run(ctx).errors
            events.show(progress, t0)
            for error in dict.fromkeys(errors):
                say(f"{_stamp(t0)} error: {error}")
            if all(p.closed or p.escalated for p in progress.values()):
                return all(p.closed for p in progress.values())
    finally:
        stop.set()
        printer.join()
    say(f"demo stopped after {limit:.0f} s with work left: see {ctx.paths.logs}")
    return False


def _stamp(t0: float) -> str:
    return f"[{time.monotonic() - t0:5.1f}s]"


def _show_ci(ctx: JobContext, progress: dict[int, IssueProgress], t0: float) -> None:
    for p in progress.values():
        if p.pr is None or p.closed:
            continue
        pr = ctx.forge.get_pull(REPO, p.pr)
        if pr.state != "open":
            continue
        checks = ctx.forge.checks(REPO, pr.head_sha)
        say(f"{_stamp(t0)} PR #{p.pr} CI on {pr.head_sha[:8]}: {checks.state.value}")


class _EventTail:
    """Prints new event lines as demo steps."""

    def __init__(self, metrics_dir: Path) -> None:
        self.tail = metrics.EventTail(metrics_dir, from_start=True)
        self.lock = threading.Lock()

    def show(self, progress: dict[int, IssueProgress], t0: float) -> None:
        with self.lock:
            for line in self.tail.read():
                self._print(json.loads(line), progress, t0)

    def _print(self, e: dict[str, Any], progress: dict[int, IssueProgress], t0: float) -> None:
        issue = e.get("issue")
        p = progress.get(issue) if isinstance(issue, int) else None
        state = e.get("state")
        ts = _stamp(t0)
        if state == "dispatched" and p:
            p.agent = str(e.get("agent", ""))
            say(f"{ts} issue #{issue} “{p.title}” → claimed ({e.get('reason')})")
        elif state == "agent_started" and p:
            say(f"{ts} issue #{issue} → agent {e.get('agent')} running")
        elif state == "pr_opened" and p:
            p.pr = e.get("pr")
            say(f"{ts} issue #{issue} → PR #{p.pr} opened (tests passed in the worktree)")
        elif state == "rebased":
            say(f"{ts} PR #{e.get('pr')} rebased onto the new base tip; CI runs again")
        elif state == "merged" and p:
            p.merged_after = time.monotonic() - p.started
            p.closed = True
            say(f"{ts} PR #{e.get('pr')} merged → issue #{issue} closed, board Done")
        elif state == "verified":
            say(
                f"{ts} PR #{e.get('pr')} verified: {e.get('reason')} (no stubs, skipped tests or protected paths)"
            )
        elif state in ("escalated", "needs_info"):
            if state == "escalated" and p:
                p.escalated = str(e.get("reason") or "escalated")
            say(f"{ts} issue #{issue} → {state}: {e.get('reason')}")
        elif state in ATTEMPT_OUTCOMES and p:
            say(f"{ts} issue #{issue} → agent {e.get('agent')} finished: {state}{_run_figures(e)}")
        elif p:
            say(f"{ts} issue #{issue} → {state} {e.get('reason') or ''}".rstrip())


ATTEMPT_OUTCOMES = frozenset(o.value for o in Outcome)


def _run_figures(event: dict[str, Any]) -> str:
    """ " ($0.0123, 3 turns, 12.3 s)" for an agent run's event, with what the CLI reported."""
    parts = []
    cost = event.get("cost_usd")
    parts.append(f"${cost:.4f}" if isinstance(cost, int | float) else "cost n/a")
    turns = event.get("turns")
    parts.append(f"{turns} turns" if isinstance(turns, int) else "turns n/a")
    if isinstance(event.get("duration_s"), int | float):
        parts.append(f"{event['duration_s']:.1f} s")
    reason = f" — {event['reason']}" if event.get("reason") and event.get("state") != "complete" else ""
    return f" ({', '.join(parts)}){reason}"


def _summary(progress: dict[int, IssueProgress], ctx: JobContext, elapsed: float) -> None:
    say("")
    say(f"{'issue':<7}{'title':<22}{'PR':<6}{'agent':<8}{'result':<10}")
    for p in progress.values():
        pr = f"#{p.pr}" if p.pr else "-"
        say(f"#{p.number:<6}{p.title:<22}{pr:<6}{p.agent:<8}{p.result:<10}")
        if p.escalated:
            say(f"       escalated: {p.escalated}")
    stats = ctx.forge.stats
    merged = sum(p.closed for p in progress.values())
    escalated = sum(bool(p.escalated) and not p.closed for p in progress.values())
    say(
        f"\n{merged}/{len(progress)} issues merged and closed, {escalated} escalated, in {elapsed:.1f} s; "
        f"GitHub requests counted: {stats.counted}, 304s: {stats.not_modified}, writes: {stats.writes}"
    )
    runs = _agent_runs(ctx)
    if runs:
        cost = sum(r["cost"] for r in runs)
        say(f"agent runs: {len(runs)}, total cost ${cost:.4f}, turns {sum(r['turns'] for r in runs)}")


def _agent_runs(ctx: JobContext) -> list[dict[str, float]]:
    path = ctx.paths.metrics / "events.jsonl"
    if not path.exists():
        return []
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("state") in ATTEMPT_OUTCOMES:
            runs.append({"cost": float(event.get("cost_usd") or 0.0), "turns": int(event.get("turns") or 0)})
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentos demo", description=__doc__)
    parser.add_argument("--agent", default="demo", help="demo (scripted), claude, codex or gemini")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a fresh temporary directory")
    parser.add_argument("--max-seconds", type=float, default=180)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="agentos-demo-"))
    return run_demo(workdir.resolve(), args.agent, args.max_seconds)


if __name__ == "__main__":
    raise SystemExit(main())
