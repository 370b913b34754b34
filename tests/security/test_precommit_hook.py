"""The real hooks/pre-commit, installed in a real temporary repository, run by a real `git commit`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from orchestrator.edges.process import ProcessResult, run
from orchestrator.security.commands import main
from orchestrator.security.precommit import BACKUP_SUFFIX, HOOK_SOURCE, install_hook
from tests.security.fake_secrets import GITHUB_CLASSIC


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "AGENTOS_PYTHON": sys.executable,
    }


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = _env(path.parent)

    def git(self, *args: str) -> ProcessResult:
        return run(["git", *args], cwd=self.path, env=self.env, timeout=60)

    def write(self, relative: str, text: str) -> None:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, *paths: str, extra: tuple[str, ...] = ()) -> ProcessResult:
        added = self.git("add", "--", *paths)
        assert added.ok, added.stderr
        return self.git("commit", "-qm", "change", *extra)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    path = tmp_path / "work"
    path.mkdir()
    repo = Repo(path)
    assert repo.git("init", "-q", "-b", "main").ok
    install_hook(path)
    return repo


def test_clean_commit_is_allowed(repo: Repo) -> None:
    repo.write("src/app.py", 'API = "https://api.github.com"\nTOKEN_ENV = "GITHUB_TOKEN"\n')
    repo.write("objectives/example.yaml", "goal: ship\n")

    result = repo.commit("src/app.py", "objectives/example.yaml")

    assert result.ok, result.stderr
    assert repo.git("rev-parse", "HEAD").ok


def test_config_yaml_is_blocked_with_the_fix(repo: Repo) -> None:
    repo.write("config.yaml", "runtime_dir: runtime\n")

    result = repo.commit("config.yaml")

    assert result.returncode == 1
    assert "config.yaml: blocked-path" in result.stderr
    assert "git rm --cached -- config.yaml" in result.stderr
    assert not repo.git("rev-parse", "--verify", "-q", "HEAD").ok  # nothing was committed


@pytest.mark.parametrize("path", [".agent_result.md", "pkg/sub/.agent_result.md", "objectives/acme.yaml"])
def test_agent_result_and_private_objectives_are_blocked(repo: Repo, path: str) -> None:
    repo.write(path, "STATUS: complete\n")

    result = repo.commit(path)

    assert result.returncode == 1
    assert f"{path}: blocked-path" in result.stderr


def test_file_with_a_fake_token_is_blocked_with_path_line_and_no_token_echo(repo: Repo) -> None:
    repo.write("src/settings.py", f'import os\n\nGITHUB = "{GITHUB_CLASSIC}"\n')

    result = repo.commit("src/settings.py")

    assert result.returncode == 1
    assert "src/settings.py:3: github-token" in result.stderr
    assert GITHUB_CLASSIC not in result.stderr + result.stdout
    assert "--no-verify" in result.stderr


def test_token_added_to_an_existing_file_reports_the_new_line_number(repo: Repo) -> None:
    repo.write("notes.txt", "".join(f"note {n}\n" for n in range(1, 21)))
    assert repo.commit("notes.txt").ok
    lines = (repo.path / "notes.txt").read_text().splitlines()
    lines[14] = f"token {GITHUB_CLASSIC}"
    repo.write("notes.txt", "\n".join(lines) + "\n")

    result = repo.commit("notes.txt")

    assert result.returncode == 1
    assert "notes.txt:15: github-token" in result.stderr


def test_an_allow_marker_in_the_file_does_not_let_a_token_through(repo: Repo) -> None:
    repo.write("tests/fixture.py", f'FAKE = "{GITHUB_CLASSIC}"  # agentos: allow-secret\n')

    result = repo.commit("tests/fixture.py")
    assert not result.ok
    assert "tests/fixture.py:1: github-token" in result.stderr


def test_removing_a_committed_config_yaml_is_allowed(repo: Repo) -> None:
    repo.write("config.yaml", "runtime_dir: runtime\n")
    assert repo.commit("config.yaml", extra=("--no-verify",)).ok  # git's own bypass skips the guard

    assert repo.git("rm", "-q", "--cached", "config.yaml").ok
    result = repo.git("commit", "-qm", "stop tracking config.yaml")

    assert result.ok, result.stderr


def test_install_is_idempotent_and_keeps_a_foreign_hook(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.path.mkdir()
    assert repo.git("init", "-q").ok
    foreign = repo.path / ".git" / "hooks" / "pre-commit"
    foreign.write_text("#!/bin/sh\necho foreign\n")

    first = install_hook(repo.path)
    second = install_hook(repo.path)

    assert first == second == foreign
    assert foreign.is_symlink() and foreign.resolve() == HOOK_SOURCE.resolve()
    backup = foreign.with_name("pre-commit" + BACKUP_SUFFIX)
    assert backup.read_text() == "#!/bin/sh\necho foreign\n"
    assert [p.name for p in foreign.parent.glob(f"pre-commit{BACKUP_SUFFIX}*")] == [backup.name]  # one backup


def test_hooks_install_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = Repo(tmp_path / "r")
    repo.path.mkdir()
    assert repo.git("init", "-q").ok

    assert main(["hooks", "install", "--repo", str(repo.path)]) == 0

    assert (repo.path / ".git" / "hooks" / "pre-commit").resolve() == HOOK_SOURCE.resolve()
    assert "installed" in capsys.readouterr().out


def test_hook_source_is_executable() -> None:
    assert os.access(HOOK_SOURCE, os.X_OK)
