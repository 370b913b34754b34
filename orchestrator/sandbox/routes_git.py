"""Git refs and branches. Creating a ref is an atomic compare-and-set: exactly one racer wins, the rest get 422."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from orchestrator.sandbox.core import ForgeCore, RefUpdate, Repo
from orchestrator.sandbox.gitrepo import ZERO_SHA, BareRepo, CommitInfo
from orchestrator.sandbox.pagination import paged_response
from orchestrator.sandbox.payloads import Urls
from orchestrator.sandbox.routing import ApiError, Request, Response, Router, not_found


def commit_json(urls: Urls, full_name: str, info: CommitInfo) -> dict[str, Any]:
    """commit (as in GET /repos/{o}/{r}/commits/{sha} and a branch's `commit`)."""
    api = urls.repo_api(full_name)
    html = urls.repo_html(full_name)
    return {
        "sha": info.sha,
        "node_id": "C_kwDO" + base64.urlsafe_b64encode(bytes.fromhex(info.sha)).decode().rstrip("="),
        "url": f"{api}/commits/{info.sha}",
        "html_url": f"{html}/commit/{info.sha}",
        "comments_url": f"{api}/commits/{info.sha}/comments",
        "commit": {
            "url": f"{api}/git/commits/{info.sha}",
            "author": {"name": info.author_name, "email": info.author_email, "date": _utc(info.author_date)},
            "committer": {
                "name": info.committer_name,
                "email": info.committer_email,
                "date": _utc(info.committer_date),
            },
            "message": info.message,
            "comment_count": 0,
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "author": None,
        "committer": None,
        "parents": [
            {"sha": parent, "url": f"{api}/commits/{parent}", "html_url": f"{html}/commit/{parent}"}
            for parent in info.parents
        ],
    }


def _utc(git_date: str) -> str:
    """git's strict ISO date (with an offset) → GitHub's UTC `Z` form."""
    return datetime.fromisoformat(git_date).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ref_json(urls: Urls, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
    """git-ref"""
    api = urls.repo_api(repo.full_name)
    node = base64.urlsafe_b64encode(f"{repo.id}:{ref}".encode()).decode().rstrip("=")
    return {
        "ref": ref,
        "node_id": "REF_kwDO" + node,
        "url": f"{api}/git/{ref}",
        "object": {"type": "commit", "sha": sha, "url": f"{api}/git/commits/{sha}"},
    }


class GitRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}"
        router.add("GET", base + "/git/ref/{ref:path}", self.get_ref)
        router.add("GET", base + "/git/refs/{ref:path}", self.get_ref)
        router.add("GET", base + "/git/matching-refs/{ref:path}", self.matching_refs, paged=True)
        router.add("POST", base + "/git/refs", self.create_ref, body=("ref", "sha"))
        router.add("PATCH", base + "/git/refs/{ref:path}", self.update_ref, body=("sha", "force"))
        router.add("DELETE", base + "/git/refs/{ref:path}", self.delete_ref)
        router.add("GET", base + "/branches", self.list_branches, paged=True)
        router.add("GET", base + "/branches/{branch:path}", self.get_branch)

    def _target(self, request: Request, write: bool = False) -> tuple[Repo, BareRepo]:
        repo = self.core.writable_repo(request) if write else self.core.readable_repo(request)
        bare = self.core.bare(repo)
        if bare.is_empty():
            raise ApiError(409, "Git Repository is empty.")
        return repo, bare

    def _current(self, bare: BareRepo, ref: str) -> str | None:
        result = bare.git("rev-parse", "--verify", "--quiet", ref, check=False)
        return result.stdout.strip() if result.ok and ref.startswith("refs/") else None

    def get_ref(self, request: Request) -> Response:
        repo, bare = self._target(request)
        ref = "refs/" + request.params["ref"]
        sha = self._current(bare, ref)
        if sha is None:
            raise not_found()
        return Response(200, ref_json(self.core.urls, repo, ref, sha))

    def matching_refs(self, request: Request) -> Response:
        repo, bare = self._target(request)
        prefix = "refs/" + request.params["ref"]
        out = bare.git("for-each-ref", "--format=%(refname) %(objectname)").stdout
        refs = [line.split(" ", 1) for line in out.splitlines() if line.startswith(prefix)]
        body = [ref_json(self.core.urls, repo, ref, sha) for ref, sha in refs]
        return paged_response(request, self.core.urls.api, body)

    def create_ref(self, request: Request) -> Response:
        repo, bare = self._target(request, write=True)
        data = request.json_object()
        ref, sha = data.get("ref"), data.get("sha")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.")
        if not bare.git("check-ref-format", ref, check=False).ok:
            raise ApiError(422, f"{ref} is not a valid ref name.")
        if not isinstance(sha, str) or not bare.object_exists(sha):
            raise ApiError(422, "Object does not exist")
        full_sha = bare.git("rev-parse", f"{sha}^{{commit}}").stdout.strip()
        if not bare.compare_and_set(ref, full_sha, ZERO_SHA):
            raise ApiError(422, "Reference already exists")
        self.core.refs_pushed(repo, [RefUpdate(ref, ZERO_SHA, full_sha)], request.viewer)
        return Response(201, ref_json(self.core.urls, repo, ref, full_sha))

    def update_ref(self, request: Request) -> Response:
        repo, bare = self._target(request, write=True)
        ref = "refs/" + request.params["ref"]
        data = request.json_object()
        sha = data.get("sha")
        if not isinstance(sha, str) or not bare.object_exists(sha):
            raise ApiError(422, "Object does not exist")
        new = bare.git("rev-parse", f"{sha}^{{commit}}").stdout.strip()
        with self.core.repo_lock(repo):
            old = self._current(bare, ref)
            if old is None:
                raise ApiError(422, "Reference does not exist")
            if not data.get("force") and not bare.is_ancestor(old, new):
                raise ApiError(422, "Update is not a fast forward")
            if not bare.compare_and_set(ref, new, old):
                raise ApiError(422, "Reference cannot be updated")
        self.core.refs_pushed(repo, [RefUpdate(ref, old, new)], request.viewer)
        return Response(200, ref_json(self.core.urls, repo, ref, new))

    def delete_ref(self, request: Request) -> Response:
        repo, bare = self._target(request, write=True)
        ref = "refs/" + request.params["ref"]
        old = self._current(bare, ref)
        if ref == f"refs/heads/{repo.default_branch}":
            raise ApiError(422, "Cannot delete the default branch")
        if old is None or not bare.compare_and_set(ref, ZERO_SHA, old):
            raise ApiError(422, "Reference does not exist")
        self.core.refs_pushed(repo, [RefUpdate(ref, old, ZERO_SHA)], request.viewer)
        return Response(204, None)

    # --- branches and commits -----------------------------------------------------------------------------
    def _branch_json(self, repo: Repo, bare: BareRepo, name: str, sha: str) -> dict[str, Any]:
        """branch-with-protection"""
        api = self.core.urls.repo_api(repo.full_name)
        return {
            "name": name,
            "commit": commit_json(self.core.urls, repo.full_name, bare.commit_info(sha)),
            "_links": {
                "self": f"{api}/branches/{name}",
                "html": f"{self.core.urls.repo_html(repo.full_name)}/tree/{name}",
            },
            "protected": False,
            "protection": {
                "enabled": False,
                "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
            },
            "protection_url": f"{api}/branches/{name}/protection",
        }

    def get_branch(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        bare = self.core.bare(repo)
        name = request.params["branch"]
        sha = bare.heads().get(name)
        if sha is None:
            raise ApiError(404, "Branch not found")
        return Response(200, self._branch_json(repo, bare, name, sha))

    def list_branches(self, request: Request) -> Response:
        repo = self.core.readable_repo(request)
        api = self.core.urls.repo_api(repo.full_name)
        heads = sorted(self.core.bare(repo).heads().items())
        body = [
            {"name": name, "commit": {"sha": sha, "url": f"{api}/commits/{sha}"}, "protected": False}
            for name, sha in heads
        ]
        return paged_response(request, self.core.urls.api, body)
