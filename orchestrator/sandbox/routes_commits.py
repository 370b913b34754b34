"""Commits: list (sha, path, author, committer, since, until), get one (with its files and stats), compare."""

from __future__ import annotations

import re
from typing import Any

from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.gitrepo import EMPTY_TREE, BareRepo, patches_by_path
from orchestrator.sandbox.issue_query import iso_timestamp
from orchestrator.sandbox.pagination import paginate
from orchestrator.sandbox.payloads_pulls import file_json
from orchestrator.sandbox.routes_git import commit_json
from orchestrator.sandbox.routes_pulls import DIFF_MEDIA_TYPE
from orchestrator.sandbox.routing import ApiError, Request, Response, Router, not_found

LIST_PARAMS = ("sha", "path", "author", "committer", "since", "until")
MAX_COMPARE_COMMITS = 250
_NOREPLY = re.compile(r"^\d+\+(?P<login>[^@]+)@users\.noreply\.")


class CommitRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}"
        router.add("GET", base + "/commits", self.list_commits, query=LIST_PARAMS, paged=True)
        router.add("GET", base + "/commits/{sha}", self.get_commit, paged=True)
        router.add("GET", base + "/compare/{basehead:path}", self.compare, paged=True)

    def _target(self, request: Request) -> tuple[Repo, BareRepo]:
        repo = self.core.readable_repo(request)
        bare = self.core.bare(repo)
        if bare.is_empty():
            raise ApiError(409, "Git Repository is empty.")
        return repo, bare

    def _resolve(self, bare: BareRepo, rev: str) -> str:
        sha = bare.resolve(rev)
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {rev}")
        return sha

    def list_commits(self, request: Request) -> Response:
        repo, bare = self._target(request)
        query = request.query
        start = self._resolve(bare, query.get("sha") or repo.default_branch)
        args = ["rev-list", start]
        for name, option in (("since", "--since"), ("until", "--until")):
            if name in query:
                args.append(f"{option}={iso_timestamp(query[name], name)}")
        if query.get("path"):
            args += ["--", query["path"]]
        shas = bare.git(*args).stdout.split()
        for name in ("author", "committer"):
            if name in query:
                shas = [sha for sha in shas if _made_by(bare, sha, name, query[name])]
        chunk, headers = paginate(request, self.core.urls.api, shas)
        body = [commit_json(self.core.urls, repo.full_name, bare.commit_info(sha)) for sha in chunk]
        return Response(200, body, headers)

    def get_commit(self, request: Request) -> Response:
        repo, bare = self._target(request)
        sha = self._resolve(bare, request.params["sha"])
        info = bare.commit_info(sha)
        parent = info.parents[0] if info.parents else EMPTY_TREE
        if "diff" in request.header("Accept"):
            text = bare.git("diff", "--no-color", "--no-ext-diff", "-M", parent, sha).stdout
            return Response(200, text, content_type=f"{DIFF_MEDIA_TYPE}; charset=utf-8")
        body = commit_json(self.core.urls, repo.full_name, info)
        files = self._files(repo, bare, parent, sha, three_dot=False)
        chunk, headers = paginate(request, self.core.urls.api, files)
        additions = sum(f["additions"] for f in files)
        deletions = sum(f["deletions"] for f in files)
        body["stats"] = {"total": additions + deletions, "additions": additions, "deletions": deletions}
        body["files"] = chunk
        return Response(200, body, headers)

    def _files(
        self, repo: Repo, bare: BareRepo, base: str, head: str, three_dot: bool
    ) -> list[dict[str, Any]]:
        spec = f"{base}...{head}" if three_dot else f"{base}..{head}"
        patches = patches_by_path(bare.git("diff", "--no-color", "--no-ext-diff", "-M", spec).stdout)
        changed = bare.changed_files(base, head, three_dot=three_dot)
        return [file_json(self.core.urls, repo, head, f, patches.get(f.path)) for f in changed]

    def compare(self, request: Request) -> Response:
        repo, bare = self._target(request)
        base_rev, head_rev = _split_basehead(request.params["basehead"], repo)
        base, head = self._resolve(bare, base_rev), self._resolve(bare, head_rev)
        merge_base = bare.merge_base(base, head)
        if merge_base is None:
            raise not_found()  # GitHub: no common ancestor
        if "diff" in request.header("Accept"):
            text = bare.diff(base, head)
            return Response(200, text, content_type=f"{DIFF_MEDIA_TYPE}; charset=utf-8")
        ahead = bare.commits_between(base, head)
        behind = bare.commits_between(head, base)
        status = (
            "identical"
            if not ahead and not behind
            else "ahead"
            if not behind
            else "behind"
            if not ahead
            else "diverged"
        )
        urls = self.core.urls
        html = f"{urls.repo_html(repo.full_name)}/compare/{base_rev}...{head_rev}"
        commits, headers = paginate(request, urls.api, ahead[:MAX_COMPARE_COMMITS])
        body = {
            "url": f"{urls.repo_api(repo.full_name)}/compare/{base_rev}...{head_rev}",
            "html_url": html,
            "permalink_url": f"{urls.repo_html(repo.full_name)}/compare/{base}...{head}",
            "diff_url": html + ".diff",
            "patch_url": html + ".patch",
            "base_commit": commit_json(urls, repo.full_name, bare.commit_info(base)),
            "merge_base_commit": commit_json(urls, repo.full_name, bare.commit_info(merge_base)),
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": len(behind),
            "total_commits": len(ahead),
            "commits": [commit_json(urls, repo.full_name, bare.commit_info(sha)) for sha in commits],
            "files": self._files(repo, bare, base, head, three_dot=True),
        }
        return Response(200, body, headers)


def _split_basehead(value: str, repo: Repo) -> tuple[str, str]:
    """`BASE...HEAD` (or `BASE..HEAD`); either side may be `owner:branch` of this repository."""
    base, sep, head = value.partition("...")
    if not sep:
        base, sep, head = value.partition("..")
    if not sep or not base or not head:
        raise not_found()
    return _local(base, repo), _local(head, repo)


def _local(rev: str, repo: Repo) -> str:
    owner, sep, branch = rev.partition(":")
    if not sep:
        return rev
    if owner.lower() != repo.owner.lower():
        raise not_found()  # another owner's fork: the sandbox has no forks
    return branch


def _made_by(bare: BareRepo, sha: str, role: str, who: str) -> bool:
    """Whether the commit's author (or committer) is `who`: an e-mail address, a name, or a login."""
    info = bare.commit_info(sha)
    name, email = (
        (info.author_name, info.author_email)
        if role == "author"
        else (info.committer_name, info.committer_email)
    )
    noreply = _NOREPLY.match(email)
    return who.lower() in (name.lower(), email.lower()) or (
        noreply is not None and noreply["login"].lower() == who.lower()
    )
