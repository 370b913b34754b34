"""The core loop against a sandbox forge serving HTTPS with its own CA (`sandbox serve --tls`).

Proves: with `github.ca_bundle` naming the forge's CA, the API client (requests) and git (clone, fetch, push
with the token as an http.extraheader, http.sslCAInfo) both verify the forge's certificate, and a Ready
issue becomes a merged PR and a closed issue — its branch cloned from and pushed to the https:// clone URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from orchestrator.containment.forge_ci import ContainedCI
from orchestrator.demo import runner
from orchestrator.demo.runner import REPO, prepare
from orchestrator.sandbox.server import SandboxForge
from tests.e2e.scripted import run_until_settled

pytestmark = pytest.mark.slow


@pytest.fixture
def tls_sandbox(tmp_path: Path) -> Iterator[SandboxForge]:
    with SandboxForge(tmp_path / "sandbox", tls=True, ci_runner=ContainedCI()).start() as forge:
        yield forge


def test_a_ready_issue_is_merged_over_https(tls_sandbox: SandboxForge, tmp_path: Path) -> None:
    issues = yaml.safe_load((Path(runner.__file__).parent / "issues.yaml").read_text())[
        :1
    ]  # the demo's first
    setup = prepare(tls_sandbox, tmp_path / "demo", issues=issues)
    ctx = setup.ctx
    assert ctx.config.github.api_url.startswith("https://") and ctx.config.github.ca_bundle is not None
    assert (ctx.config.repos[0].clone_url or "").startswith("https://")
    (number,) = setup.seeded.issue_numbers
    run_until_settled(ctx, tls_sandbox, [number], ticks=4)
    assert ctx.forge.get_issue(REPO, number).state == "closed"
    (pull,) = ctx.forge.list_pulls(REPO, state="closed")
    assert pull.head_ref.startswith(f"agent/{number}-")
