"""`POST /repos/{o}/{r}/merges` (merge a commit into a branch) and pull requests merged by a moving base.

Merges: as on GitHub — 201 with the new merge commit, 204 when the branch already contains the head, 409 "Merge
conflict", 404 when the base branch or the head is missing. The branch moves by compare-and-set.

Merged by a moving base: on GitHub, when a branch moves (a push, or a ref update through the API) so that an open
pull request's head commit becomes part of its base branch, the pull request is marked merged (and, for the
default branch, the issues it says it closes are closed). `PullsMergedByBase` does the same here, as a listener
of the forge core's branch moves.
"""

from __future__ import annotations

from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.gitrepo import Identity
from orchestrator.sandbox.merging import closing_references
from orchestrator.sandbox.routes_git import commit_json
from orchestrator.sandbox.routes_issues import IssueRoutes
from orchestrator.sandbox.routing import ApiError, Request, Response, Router


class MergeRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        router.add(
            "POST", "/repos/{owner}/{repo}/merges", self.merge, body=("base", "head", "commit_message")
        )

    def merge(self, request: Request) -> Response:
        repo = self.core.repo(request.params["owner"], request.params["repo"])
        data = request.json_object()
        base, head = data.get("base"), data.get("head")
        if not isinstance(base, str) or not isinstance(head, str) or not base or not head:
            raise ApiError(422, "Invalid request.\n\nbase and head are required.")
        bare = self.core.bare(repo)
        with self.core.repo_lock(repo):
            base_sha = bare.resolve(base) if not base.startswith("refs/") else None
            head_sha = bare.resolve(head)
            if base_sha is None:
                raise ApiError(404, "Base does not exist")
            if head_sha is None:
                raise ApiError(404, "Head does not exist")
            if bare.is_ancestor(head_sha, base_sha):
                return Response(204)
            tree = bare.merge_tree(base_sha, head_sha)
            if tree is None:
                raise ApiError(409, "Merge conflict")
            message = data.get("commit_message")
            if not isinstance(message, str) or not message:
                message = f"Merge {head} into {base}"
            viewer = self.core.user(request.viewer)
            author = Identity(viewer["login"], f"{viewer['id']}+{viewer['login']}@users.noreply.sandbox")
            merged = bare.commit_tree(tree, [base_sha, head_sha], message, author)
            if not bare.compare_and_set(f"refs/heads/{base}", merged, base_sha):
                raise ApiError(409, "Base branch was modified. Review and try the merge again.")
        self.core.branch_moved(repo, base, merged)
        return Response(201, commit_json(self.core.urls, repo.full_name, bare.commit_info(merged)))


class PullsMergedByBase:
    """Marks open pull requests merged when their base branch comes to contain their head (as GitHub does)."""

    def __init__(self, core: ForgeCore, issues: IssueRoutes) -> None:
        self.core = core
        self.issues = issues

    def on_branch_moved(self, repo: Repo, branch: str, sha: str) -> None:
        rows = self.core.db.all(
            "SELECT p.issue_id, p.head_sha, i.title, i.body FROM pulls p JOIN issues i ON i.id = p.issue_id "
            "WHERE i.repo_id = ? AND i.state = 'open' AND p.base_ref = ?",
            (repo.id, branch),
        )
        bare = self.core.bare(repo)
        for row in rows:
            if not row["head_sha"] or not bare.is_ancestor(row["head_sha"], sha):
                continue
            self.core.db.execute(
                "UPDATE pulls SET merged = 1, merged_at = ?, merge_commit_sha = ?, base_sha = ? WHERE issue_id = ?",
                (utc_now(), sha, sha, row["issue_id"]),
            )
            self.issues.set_state(row["issue_id"], "closed", "completed", repo.owner)
            if branch == repo.default_branch:
                text = f"{row['title']}\n{row['body'] or ''}"
                for number in closing_references(text, repo.full_name):
                    issue = self.core.db.one(
                        "SELECT id FROM issues WHERE repo_id = ? AND number = ? AND is_pull = 0",
                        (repo.id, number),
                    )
                    if issue is not None:
                        self.issues.set_state(issue["id"], "closed", "completed", repo.owner)
