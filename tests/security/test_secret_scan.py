from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from orchestrator.edges.process import run
from orchestrator.security.secret_catalog import strict_label
from orchestrator.security.secret_scan import (
    DIFF_ARGS,
    AllowedSecret,
    blocked_paths,
    blocked_reason,
    may_contain_secret,
    scan_bytes,
    scan_diff,
    scan_text,
)
from tests.security.fake_secrets import GITHUB_CLASSIC, LOOKALIKES, OPENAI_LEGACY, SAMPLES

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("kind", "line", "secret"), SAMPLES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(SAMPLES)]
)
def test_each_secret_shape_is_found_with_its_kind_and_masked(kind: str, line: str, secret: str) -> None:
    findings = scan_text(f"first line\n{line}\n", path="app/settings.py")

    assert [(f.path, f.line, f.kind) for f in findings] == [("app/settings.py", 2, kind)]
    assert secret not in findings[0].excerpt
    assert secret[8:20] not in findings[0].excerpt
    assert str(findings[0]) == f"app/settings.py:2: {kind}"
    assert may_contain_secret(line)


@pytest.mark.parametrize("line", LOOKALIKES)
def test_realistic_non_secrets_are_not_reported(line: str) -> None:
    assert scan_text(line) == []


def test_a_marker_in_the_file_changes_nothing() -> None:
    """Only the operator's config can allow a finding: a comment the agent can type is inert."""
    text = f'FAKE = "{GITHUB_CLASSIC}"  # agentos: allow-secret\nREAL = "{OPENAI_LEGACY}"\n'
    plain = f'FAKE = "{GITHUB_CLASSIC}"\nREAL = "{OPENAI_LEGACY}"\n'

    assert [(f.line, f.kind) for f in scan_text(text)] == [(1, "github-token"), (2, "openai-api-key")]
    assert [f.fingerprint for f in scan_text(text)] == [f.fingerprint for f in scan_text(plain)]


def test_operator_allow_list_needs_the_path_and_the_fingerprint() -> None:
    text = f'FAKE = "{GITHUB_CLASSIC}"\nOTHER = "{OPENAI_LEGACY}"\n'
    (first, second) = scan_text(text, "tests/fixtures/tokens.py")
    assert first.fingerprint == "sha256:" + hashlib.sha256(GITHUB_CLASSIC.encode()).hexdigest()
    assert GITHUB_CLASSIC not in first.describe() and first.describe().startswith(
        "tests/fixtures/tokens.py:1: github-token (sha256:"
    )
    short = first.fingerprint[: len("sha256:") + 16]

    exact = [AllowedSecret("tests/fixtures/tokens.py", first.fingerprint)]
    by_glob = [AllowedSecret("tests/fixtures/*.py", short)]
    assert scan_text(text, "tests/fixtures/tokens.py", exact) == [second]
    assert scan_text(text, "tests/fixtures/tokens.py", by_glob) == [second]
    # the same value elsewhere, another value at the path, or a fingerprint too short to mean anything: refused
    assert len(scan_text(text, "src/app.py", exact)) == 2
    assert (
        len(scan_text(text, "tests/fixtures/tokens.py", [AllowedSecret("tests/fixtures/*.py", "sha256:")]))
        == 2
    )
    assert scan_text(text, "tests/fixtures/tokens.py", [AllowedSecret("**", second.fingerprint)]) == [first]


def test_raw_bytes_are_scanned_whatever_the_file_looks_like() -> None:
    blob = b"\x00\x01\xff\xfe binary header\n" + b"\xc3(" + GITHUB_CLASSIC.encode() + b"\x00 tail\n"

    (finding,) = scan_bytes(blob, "assets/logo.bin")
    assert (finding.path, finding.line, finding.kind) == ("assets/logo.bin", 2, "github-token")


def test_passwords_in_urls_are_redacted_and_refused_in_config_but_not_in_code() -> None:
    line = "DATABASE = 'postgres://app:s3cretHunter2@db.internal/app'"
    assert scan_text(line) == []
    assert strict_label(line) == "a password in a URL"
    assert strict_label("ghp_" + "a" * 36) == "a GitHub token"  # strict mode: placeholders count too
    assert strict_label("see https://example.com/path and user@example.com") is None


def test_two_secrets_on_one_line_are_both_reported_and_both_masked() -> None:
    findings = scan_text(f"a={GITHUB_CLASSIC} b={OPENAI_LEGACY}")

    assert [f.kind for f in findings] == ["github-token", "openai-api-key"]
    for finding in findings:
        assert GITHUB_CLASSIC not in finding.excerpt and OPENAI_LEGACY not in finding.excerpt


def test_token_inside_a_longer_word_is_not_a_token() -> None:
    assert scan_text("prefix" + GITHUB_CLASSIC) == []
    assert scan_text(GITHUB_CLASSIC + "Z") != []  # longer classic tokens are still tokens


DIFF_WITH_TOKEN = f"""diff --git a/src/app.py b/src/app.py
index 1111111..2222222 100644
--- a/src/app.py
+++ b/src/app.py
@@ -3,0 +4,2 @@ import os
+API = "https://api.github.com"
+TOKEN = "{GITHUB_CLASSIC}"
@@ -20 +22 @@ def main():
-    old = "{OPENAI_LEGACY}"
+    new = 1
diff --git a/notes.md b/notes.md
deleted file mode 100644
--- a/notes.md
+++ /dev/null
@@ -1 +0,0 @@
-removed {OPENAI_LEGACY}
"""


def test_diff_reports_added_lines_only_with_new_file_line_numbers() -> None:
    findings = scan_diff(DIFF_WITH_TOKEN)

    assert [str(f) for f in findings] == ["src/app.py:5: github-token"]


def test_diff_added_line_that_looks_like_a_file_header_is_still_scanned() -> None:
    diff = f"--- a/x.txt\n+++ b/x.txt\n@@ -1,2 +1,3 @@\n context\n+++ b/{GITHUB_CLASSIC}\n context two\n"

    assert [str(f) for f in scan_diff(diff)] == ["x.txt:2: github-token"]


def test_diff_with_quoted_unicode_path() -> None:
    diff = f'--- a/x\n+++ "b/caf\\303\\251 notes.txt"\n@@ -0,0 +1 @@\n+{GITHUB_CLASSIC}\n'

    assert [str(f) for f in scan_diff(diff)] == ["café notes.txt:1: github-token"]


@pytest.mark.parametrize("separator", ["\r", "\v", "\x1c", "\u2028"])
def test_diff_secret_behind_a_line_separator_other_than_newline_is_found(separator: str) -> None:
    diff = f"--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n context\n+key ={separator}{GITHUB_CLASSIC}\n"

    assert [str(f) for f in scan_diff(diff)] == ["x:2: github-token"]


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "HOME": str(repo.parent), "GIT_CONFIG_NOSYSTEM": "1"}
    result = run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=repo, env=env)
    assert result.ok, result.stderr
    return result.stdout


def test_real_git_diff_of_an_agent_branch_is_caught_with_path_and_line(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "svc.py").write_text("".join(f"line {n}\n" for n in range(1, 11)))
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "switch", "-qc", "agent/7-config")
    lines = (repo / "svc.py").read_text().splitlines()
    lines.insert(6, f'TOKEN = "{GITHUB_CLASSIC}"')
    (repo / "svc.py").write_text("\n".join(lines) + "\n")
    _git(repo, "commit", "-qam", "agent work")

    diff = _git(repo, "diff", *DIFF_ARGS, "main...HEAD")

    assert [str(f) for f in scan_diff(diff)] == ["svc.py:7: github-token"]


@pytest.mark.parametrize(
    ("path", "blocked"),
    [
        ("config.yaml", True),
        ("deploy/config.yaml", False),
        ("objectives/acme.yaml", True),
        ("objectives/example.yaml", False),
        ("objectives/old/acme.yaml", False),
        (".agent_result.md", True),
        ("src/pkg/.agent_result.md", True),
        ("docs/agent_result.md", False),
        ("example.config.yaml", False),
    ],
)
def test_blocked_paths(path: str, blocked: bool) -> None:
    assert blocked_paths([path]) == ([path] if blocked else [])
    assert (blocked_reason(path) is not None) is blocked


def test_this_repository_security_files_pass_their_own_guard() -> None:
    files = [
        *sorted((REPO_ROOT / "orchestrator" / "security").glob("*.py")),
        *sorted((REPO_ROOT / "tests" / "security").glob("*.py")),
        REPO_ROOT / "docs" / "security.md",
        REPO_ROOT / "hooks" / "pre-commit",
        REPO_ROOT / "example.config.yaml",
    ]
    findings = [f for path in files if path.exists() for f in scan_text(path.read_text(), str(path))]

    assert findings == []
