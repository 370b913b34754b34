"""Agent CLI adapters: `run_agent` lets an agent work in a worktree, `print_mode` asks it one question."""

from orchestrator.agents.runner import PrintModeFailed, print_mode, run_agent
from orchestrator.agents.spec import AGENT_KINDS, AgentKind, AgentSpec

__all__ = ["AGENT_KINDS", "AgentKind", "AgentSpec", "PrintModeFailed", "print_mode", "run_agent"]
