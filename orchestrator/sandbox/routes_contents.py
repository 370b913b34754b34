"""Repository contents: get a file or a directory at a ref, create or update a file, delete a file.

A write is a real commit on the branch (git plumbing: blob, tree through a private index, commit-tree), moved
by compare-and-set like a push, so it fires what a push fires (PR heads, sandbox CI, referenced events).
GitHub's rules: updating or deleting needs the file's current blob `sha` (422 without, 409 when it is stale);
creating a file that exists without `sha` is 422. Symlinks and submodules are listed with their type;
`GET` of one answers its target / submodule URL as GitHub does not — 422 "not supported by the sandbox forge".
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import quote

from orchestrator.sandbox.core import ForgeCore, RefUpdate, Repo
from orchestrator.sandbox.gitrepo import ZERO_SHA, BareRepo, Identity, TreeEntry
from orchestrator.sandbox.routes_git import commit_json
from orchestrator.sandbox.routing import (
    ApiError,
    Request,
    Response,
    Router,
    not_found,
    unsupported,
    validation_failed,
)

WRITE_FIELDS = ("message", "content", "sha", "branch", "committer", "author")
_KINDS = {"blob": "file", "tree": "dir", "commit": "submodule"}


class ContentRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core

    def register(self, router: Router) -> None:
        base = "/repos/{owner}/{repo}/contents"
        router.add("GET", base, self.get_contents, query=("ref",))
        router.add("GET", base + "/{path:path}", self.get_contents, query=("ref",))
        router.add("PUT", base + "/{path:path}", self.put_file, body=WRITE_FIELDS)
        router.add("GET", "/repos/{owner}/{repo}/readme", self.get_readme, query=("ref",))
        router.add("GET", "/repos/{owner}/{repo}/readme/{dir:path}", self.get_readme, query=("ref",))
        router.add(
            "DELETE",
            base + "/{path:path}",
            self.delete_file,
            body=("message", "sha", "branch", "committer", "author"),
        )

    def _entry_json(self, repo: Repo, ref: str, entry: TreeEntry) -> dict[str, Any]:
        urls = self.core.urls
        api = f"{urls.repo_api(repo.full_name)}/contents/{quote(entry.path)}?ref={quote(ref, safe='')}"
        kind = "symlink" if entry.mode == "120000" else _KINDS.get(entry.kind, "file")
        git_url = f"{urls.repo_api(repo.full_name)}/git/{'trees' if kind == 'dir' else 'blobs'}/{entry.sha}"
        html = f"{urls.repo_html(repo.full_name)}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{entry.path}"
        download = f"{urls.repo_html(repo.full_name)}/raw/{ref}/{entry.path}" if kind == "file" else None
        return {
            "type": kind,
            "size": entry.size,
            "name": entry.name,
            "path": entry.path,
            "sha": entry.sha,
            "url": api,
            "git_url": git_url,
            "html_url": html,
            "download_url": download,
            "_links": {"self": api, "git": git_url, "html": html},
        }

    def _read_at_ref(self, request: Request) -> tuple[Repo, BareRepo, str, str]:
        """The readable repo of `request`, its bare repository, the `ref` asked for (default: the default
        branch) and the commit it names; 404 when the repository is empty or the ref names no commit."""
        repo = self.core.readable_repo(request)
        bare = self.core.bare(repo)
        ref = request.query.get("ref") or repo.default_branch
        if bare.is_empty():
            raise ApiError(404, "This repository is empty.")
        commit = bare.resolve(ref)
        if commit is None:
            raise ApiError(404, f"No commit found for the ref {ref}")
        return repo, bare, ref, commit

    def get_contents(self, request: Request) -> Response:
        repo, bare, ref, commit = self._read_at_ref(request)
        path = request.params.get("path", "").strip("/")
        if not path:
            entries = bare.tree_entries(commit, "", children=True)
            return Response(200, [self._entry_json(repo, ref, e) for e in entries])
        found = bare.tree_entries(commit, path, children=False)
        if len(found) != 1 or found[0].path != path:
            raise not_found()
        entry = found[0]
        if entry.kind == "tree":
            entries = bare.tree_entries(commit, path, children=True)
            return Response(200, [self._entry_json(repo, ref, e) for e in entries])
        if entry.kind != "blob" or entry.mode == "120000":
            raise unsupported("content type", "symlink" if entry.mode == "120000" else "submodule")
        return self._file(request, repo, ref, entry)

    def get_readme(self, request: Request) -> Response:
        """The preferred README of a directory (the root: then .github/ and docs/), as a file's contents."""
        repo, bare, ref, commit = self._read_at_ref(request)
        folder = request.params.get("dir", "").strip("/")
        for place in [folder] if folder else ["", ".github", "docs"]:
            found = [
                entry
                for entry in bare.tree_entries(commit, place, children=True)
                if entry.kind == "blob" and entry.mode != "120000" and entry.name.lower().startswith("readme")
            ]
            if found:
                return self._file(request, repo, ref, min(found, key=lambda e: (len(e.name), e.name)))
        raise not_found()

    def _file(self, request: Request, repo: Repo, ref: str, entry: TreeEntry) -> Response:
        """A file's contents object; its bytes alone for the `raw` media type; `html` is not implemented."""
        accept = request.header("accept")
        data = self.core.bare(repo).blob(entry.sha)
        if "vnd.github.raw" in accept or "vnd.github.v3.raw" in accept:
            return Response(200, data, content_type="application/vnd.github.raw")
        if "vnd.github.html" in accept or "vnd.github.v3.html" in accept:
            raise unsupported("media type", accept, "only the JSON and raw forms of contents")
        body = self._entry_json(repo, ref, entry)
        body["content"] = base64.encodebytes(data).decode()
        body["encoding"] = "base64"
        return Response(200, body)

    def put_file(self, request: Request) -> Response:
        repo = self.core.writable_repo(request)
        data = request.json_object()
        message, content = data.get("message"), data.get("content")
        if not isinstance(message, str) or not message:
            raise validation_failed("Content", "message", "missing_field")
        if not isinstance(content, str):
            raise validation_failed("Content", "content", "missing_field")
        try:
            payload = base64.b64decode(content, validate=False)
        except binascii.Error as exc:
            raise ApiError(422, "content is not valid Base64") from exc
        bare = self.core.bare(repo)
        blob = bare.write_blob(payload)
        path = request.params["path"].strip("/")
        created, commit = self._commit(repo, bare, request, path, blob)
        entry = bare.tree_entries(commit, path, children=False)[0]
        body = {
            "content": self._entry_json(repo, commit, entry),
            "commit": self._commit_json(repo, bare, commit),
        }
        return Response(201 if created else 200, body)

    def delete_file(self, request: Request) -> Response:
        repo = self.core.writable_repo(request)
        data = request.json_object()
        if not isinstance(data.get("message"), str) or not data["message"]:
            raise validation_failed("Content", "message", "missing_field")
        bare = self.core.bare(repo)
        _, commit = self._commit(repo, bare, request, request.params["path"].strip("/"), None)
        return Response(200, {"content": None, "commit": self._commit_json(repo, bare, commit)})

    def _commit(
        self, repo: Repo, bare: BareRepo, request: Request, path: str, blob: str | None
    ) -> tuple[bool, str]:
        """Commit `path` = blob (None: delete) on the request's branch; (the file was created, new commit)."""
        data = request.json_object()
        branch = data.get("branch") or repo.default_branch
        identity = _identity(data.get("author") or data.get("committer"), self.core.user(request.viewer))
        with self.core.repo_lock(repo):
            tip = bare.heads().get(branch)
            if tip is None and not bare.is_empty():
                raise ApiError(404, f"Branch {branch} not found")
            current = bare.tree_entries(tip, path, children=False) if tip else []
            existing = current[0] if len(current) == 1 and current[0].path == path else None
            _check_sha(existing, data.get("sha"), deleting=blob is None)
            tree = bare.tree_with(tip, path, blob)
            commit = bare.commit_tree(tree, [tip] if tip else [], str(data["message"]), identity)
            if not bare.compare_and_set(f"refs/heads/{branch}", commit, tip or ZERO_SHA):
                raise ApiError(409, f"{branch} was modified; try again")
        self.core.refs_pushed(
            repo, [RefUpdate(f"refs/heads/{branch}", tip or ZERO_SHA, commit)], request.viewer
        )
        return existing is None, commit

    def _commit_json(self, repo: Repo, bare: BareRepo, sha: str) -> dict[str, Any]:
        """file-commit.commit: the git commit (sha, author, committer, message, tree, parents)."""
        full = commit_json(self.core.urls, repo.full_name, bare.commit_info(sha))
        body: dict[str, Any] = {key: value for key, value in full["commit"].items() if key != "comment_count"}
        body.update(
            {"sha": sha, "node_id": full["node_id"], "html_url": full["html_url"], "parents": full["parents"]}
        )
        return body


def _check_sha(existing: TreeEntry | None, sha: Any, deleting: bool) -> None:
    if existing is None:
        if deleting:
            raise not_found()
        if sha:
            raise ApiError(409, "sha does not match: the file does not exist")
        return
    if existing.kind != "blob":
        raise ApiError(422, f"{existing.path} is a directory, not a file")
    if not sha:
        raise ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    if sha != existing.sha:
        raise ApiError(409, f"{existing.path} does not match {sha}")


def _identity(value: Any, viewer: Any) -> Identity:
    if isinstance(value, dict):
        for key in value:
            if key not in ("name", "email"):
                raise unsupported("body field", f"author.{key}", "commit dates are the time of the request")
        if isinstance(value.get("name"), str) and isinstance(value.get("email"), str):
            return Identity(value["name"], value["email"])
        raise validation_failed("Content", "author", "invalid")
    return Identity(viewer["login"], f"{viewer['id']}+{viewer['login']}@users.noreply.sandbox")
