"""Git smart HTTP on the sandbox forge, with GitHub's authentication and refusals, judged by real git.

Proves: clone URLs are `http(s)://HOST:PORT/OWNER/NAME.git` (file:// only with file_remotes); anyone can
clone a public repo, nobody without credentials can push (401 with `WWW-Authenticate: Basic realm="GitHub"`),
a bad token is 401, a reader's push is 403, a private repo is 401 anonymously and 404 for an outsider;
the token works as basic password or user name and as a `token`/`Bearer` header; a push over HTTP moves a
PR head, runs the sandbox CI and records `referenced` events; refs/pull/* are hidden and read-only,
deleting the default branch and a file over the size limit are refused; a large (chunked) push works; and
the same over HTTPS with the forge's CA.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
import requests

from orchestrator.edges.process import ProcessResult, run
from orchestrator.sandbox.server import SandboxForge


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> ProcessResult:
    return run(
        ["git", "-C", str(cwd), *args],
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
        timeout=60,
    )


def ok(result: ProcessResult) -> str:
    assert result.ok, result.stderr
    return result.stdout.strip()


def commit(work: Path, name: str, text: str, message: str) -> str:
    (work / name).write_text(text)
    ok(git(work, "add", "-A"))
    ok(git(work, "-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", message))
    return ok(git(work, "rev-parse", "HEAD"))


@pytest.fixture
def repo(forge: SandboxForge, tmp_path: Path) -> tuple[str, Path]:
    """agentos-admin/app with one commit on main (pushed over HTTP with the admin's token), and its clone."""
    forge.core.create_repo("agentos-admin", "app")
    url = f"{forge.url}/agentos-admin/app.git"
    work = tmp_path / "work"
    work.mkdir()
    ok(git(work, "init", "-q", "-b", "main"))
    commit(work, "README.md", "# app\n", "first")
    ok(git(work, "push", "-q", url, "HEAD:refs/heads/main", env=forge.git_env()))
    return url, work


def api(
    forge: SandboxForge, method: str, path: str, token: str | None = None, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"token {token or forge.token}"}
    return requests.request(method, f"{forge.api_url}{path}", headers=headers, timeout=30, **kwargs)


def test_clone_urls_are_http_and_file_only_when_asked(forge: SandboxForge, tmp_path: Path) -> None:
    forge.core.create_repo("agentos-admin", "app")
    body = api(forge, "GET", "/repos/agentos-admin/app").json()
    assert body["clone_url"] == f"{forge.url}/agentos-admin/app.git"
    with SandboxForge(tmp_path / "files", file_remotes=True) as local:
        local.core.create_repo("agentos-admin", "app")
        assert api(local, "GET", "/repos/agentos-admin/app").json()["clone_url"].startswith("file://")


def test_who_may_clone_and_push(forge: SandboxForge, repo: tuple[str, Path], tmp_path: Path) -> None:
    url, work = repo
    ok(git(tmp_path, "clone", "-q", url, "anonymous"))  # a public repo: anyone may read
    refused = git(work, "push", url, "HEAD:refs/heads/topic")
    assert not refused.ok and "could not read Username" in refused.stderr  # 401 asked for credentials
    probe = requests.get(f"{url}/info/refs", params={"service": "git-receive-pack"}, timeout=30)
    assert probe.status_code == 401 and probe.headers["WWW-Authenticate"] == 'Basic realm="GitHub"'
    assert not git(work, "push", url, "HEAD:refs/heads/topic", env=forge.git_env("not-a-token")).ok
    bad = requests.get(
        f"{url}/info/refs", params={"service": "git-upload-pack"}, auth=("x", "nope"), timeout=30
    )
    assert bad.status_code == 401 and "Invalid username or token" in bad.text  # even where reading is open
    reader = forge.create_user("reader")
    assert reader is not None
    denied = git(work, "push", url, "HEAD:refs/heads/topic", env=forge.git_env(reader))
    assert not denied.ok and "Permission to agentos-admin/app.git denied to reader" in denied.stderr
    api(forge, "PUT", "/repos/agentos-admin/app/collaborators/reader", json={"permission": "push"})
    ok(git(work, "push", "-q", url, "HEAD:refs/heads/topic", env=forge.git_env(reader)))
    assert "topic" in forge.core.bare(forge.core.repo("agentos-admin", "app")).heads()


def test_private_repositories_are_hidden(forge: SandboxForge, tmp_path: Path) -> None:
    api(forge, "POST", "/user/repos", json={"name": "secret", "private": True, "auto_init": True})
    url = f"{forge.url}/agentos-admin/secret.git"
    anonymous = requests.get(f"{url}/info/refs", params={"service": "git-upload-pack"}, timeout=30)
    assert anonymous.status_code == 401
    outsider = forge.create_user("outsider")
    assert outsider is not None
    hidden = git(tmp_path, "clone", "-q", url, "x", env=forge.git_env(outsider))
    assert not hidden.ok and "not found" in hidden.stderr
    assert api(forge, "GET", "/repos/agentos-admin/secret", token=outsider).status_code == 404
    ok(git(tmp_path, "clone", "-q", url, "mine", env=forge.git_env()))
    assert (tmp_path / "mine" / "README.md").read_text() == "# secret\n"


@pytest.mark.parametrize("scheme", ["basic-password", "basic-user", "token", "bearer"])
def test_every_way_github_takes_a_token(forge: SandboxForge, repo: tuple[str, Path], scheme: str) -> None:
    url, _ = repo
    token = forge.token
    header = {
        "basic-password": "Basic " + base64.b64encode(f"anyone:{token}".encode()).decode(),
        "basic-user": "Basic " + base64.b64encode(f"{token}:x-oauth-basic".encode()).decode(),
        "token": f"token {token}",
        "bearer": f"Bearer {token}",
    }[scheme]
    answer = requests.get(
        f"{url}/info/refs",
        params={"service": "git-receive-pack"},
        headers={"Authorization": header},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/x-git-receive-pack-advertisement"


def test_a_push_moves_the_pull_request_and_references_issues(
    forge: SandboxForge, repo: tuple[str, Path]
) -> None:
    url, work = repo
    forge.set_ci_command("agentos-admin/app", "test -f fix.txt")
    issue = api(forge, "POST", "/repos/agentos-admin/app/issues", json={"title": "Broken"}).json()["number"]
    ok(git(work, "checkout", "-q", "-b", "fix"))
    commit(work, "note.txt", "n\n", "start")
    ok(git(work, "push", "-q", url, "HEAD:refs/heads/fix", env=forge.git_env()))
    pull = api(
        forge, "POST", "/repos/agentos-admin/app/pulls", json={"title": "Fix", "head": "fix", "base": "main"}
    )
    number = pull.json()["number"]
    head = commit(work, "fix.txt", "f\n", f"Repair it, see #{issue}")
    ok(git(work, "push", "-q", url, "HEAD:refs/heads/fix", env=forge.git_env()))
    forge.wait_ci_idle(60)
    assert api(forge, "GET", f"/repos/agentos-admin/app/pulls/{number}").json()["head"]["sha"] == head
    runs = api(forge, "GET", f"/repos/agentos-admin/app/commits/{head}/check-runs").json()["check_runs"]
    assert [(r["name"], r["conclusion"]) for r in runs] == [("sandbox-ci", "success")]
    events = api(forge, "GET", f"/repos/agentos-admin/app/issues/{issue}/events").json()
    assert [(e["event"], e["commit_id"]) for e in events] == [("referenced", head)]
    advertised = ok(git(work, "ls-remote", url, env=forge.git_env()))
    assert f"{head}\trefs/pull/{number}/head" in advertised  # as on GitHub: gh pr checkout fetches it


def test_github_refusals(forge: SandboxForge, repo: tuple[str, Path], tmp_path: Path) -> None:
    url, work = repo
    hidden = git(work, "push", url, "HEAD:refs/pull/1/head", env=forge.git_env())
    assert not hidden.ok and "deny updating a hidden ref" in hidden.stderr
    deleting = git(work, "push", url, ":refs/heads/main", env=forge.git_env())
    assert not deleting.ok and "refusing to delete the current branch" in deleting.stderr
    with SandboxForge(tmp_path / "small", max_file_bytes=1000) as small:
        small.core.create_repo("agentos-admin", "app")
        small_url = f"{small.url}/agentos-admin/app.git"
        commit(work, "big.bin", "x" * 5000, "a big file")
        large = git(work, "push", small_url, "HEAD:refs/heads/main", env=small.git_env())
        assert not large.ok and "GH001: Large files detected" in large.stderr and "big.bin" in large.stderr


def test_a_large_push_arrives_whole(forge: SandboxForge, repo: tuple[str, Path]) -> None:
    """Over git's 1 MiB post buffer the push body is sent chunked (Transfer-Encoding: chunked)."""
    url, work = repo
    (work / "data.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    head = commit(work, "small.txt", "s\n", "three random megabytes")
    ok(git(work, "push", "-q", url, "HEAD:refs/heads/bulk", env=forge.git_env()))
    assert forge.core.bare(forge.core.repo("agentos-admin", "app")).heads()["bulk"] == head


def test_the_same_over_https_with_the_forges_ca(tmp_path: Path) -> None:
    with SandboxForge(tmp_path / "tls", tls=True) as forge:
        forge.core.create_repo("agentos-admin", "app")
        url = f"{forge.url}/agentos-admin/app.git"
        assert url.startswith("https://") and forge.ca_bundle is not None
        assert (forge.data_dir / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
        work = tmp_path / "work"
        work.mkdir()
        ok(git(work, "init", "-q", "-b", "main"))
        head = commit(work, "README.md", "# app\n", "first")
        untrusted = git(
            work,
            "push",
            url,
            "HEAD:refs/heads/main",
            env={"GIT_SSL_CAINFO": "/etc/ssl/certs/ca-certificates.crt"},
        )
        assert not untrusted.ok and "certificate" in untrusted.stderr.lower()
        ok(git(work, "push", "-q", url, "HEAD:refs/heads/main", env=forge.git_env()))
        assert forge.core.bare(forge.core.repo("agentos-admin", "app")).heads()["main"] == head
