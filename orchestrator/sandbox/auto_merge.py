"""Auto-merge, as GitHub runs it: a pull request whose auto-merge was enabled (GraphQL
enablePullRequestAutoMerge) is merged with its chosen method, as the user who enabled it, as soon as its
requirements are met — here: open, not a draft, no conflict, and every check of its head passing.

The forge calls `on_checks(repo, sha)` whenever a check run completes or a status is posted; a merge the
forge refuses (the head moved, a conflict appeared) leaves auto-merge enabled, as GitHub does, for the next
time the checks change.
"""

from __future__ import annotations

import logging

from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.payloads_pulls import PullView
from orchestrator.sandbox.routes_checks import CheckStore
from orchestrator.sandbox.routes_pulls import PullMerge, PullRoutes
from orchestrator.sandbox.routing import ApiError

log = logging.getLogger(__name__)
READY = ("clean", "behind")  # `behind` merges on GitHub too unless a protection rule wants the branch current


class AutoMerger:
    def __init__(self, core: ForgeCore, pulls: PullRoutes) -> None:
        self.core = core
        self.pulls = pulls
        self.checks = CheckStore(core)
        core.check_listeners.append(self.on_checks)

    def on_checks(self, repo: Repo, sha: str) -> None:
        rows = self.core.db.all(
            "SELECT i.*, p.* FROM issues i JOIN pulls p ON p.issue_id = i.id WHERE i.repo_id = ? "
            "AND i.state = 'open' AND p.auto_merge_method IS NOT NULL AND p.head_sha = ?",
            (repo.id, sha),
        )
        for row in rows:
            view = PullView(self.core, self.checks, repo, row, full=True)
            if view.head_sha != sha or view.mergeable_state() not in READY:
                continue
            merge = PullMerge(str(row["auto_merge_method"]).lower(), sha)
            try:
                self.pulls.merge_pull_request(repo, row["number"], merge, str(row["auto_merge_by"]))
            except ApiError as exc:
                log.info("auto-merge of %s#%s waits: %s", repo.full_name, row["number"], exc.message)
