"""The agent's private git dir: built from our clone's files as data; what the agent merges there is read back
as data (its loose objects), and only a merge of one of our own commits is ever taken."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.config.isolation import Isolation
from orchestrator.containment.private_git import (
    GitSourceError,
    agent_bases,
    source_from_clone,
    source_from_worktree,
)
from orchestrator.containment.toolchain import install_mounts
from tests.containment.conftest import Host, git, job, require_bwrap, run_in


def known_in(clone: Path):
    def known(sha: str) -> bool:
        done = subprocess.run(["git", "-C", str(clone), "cat-file", "-e", f"{sha}^{{commit}}"], check=False)
        return done.returncode == 0

    return known


def advance_main(host: Host, tmp_path: Path) -> str:
    origin = tmp_path / "origin"
    (origin / "other.txt").write_text("main moved on\n")
    git(origin, "add", ".")
    git(origin, "commit", "-qm", "main moves")
    git(host.clone, "fetch", "-q", "origin")
    return git(host.clone, "rev-parse", "origin/main")


def test_a_merge_of_our_base_branch_made_inside_is_found(host: Host, tmp_path: Path) -> None:
    require_bwrap()
    tip = advance_main(host, tmp_path)
    start = git(host.worktree, "rev-parse", "HEAD")
    script = "git -c user.name=a -c user.email=a@b merge -q --no-edit origin/main && echo merged"
    the_job = job(host, ["/bin/sh", "-c", script])
    result, _ = run_in(Isolation(), the_job)
    assert "merged" in result.stdout, result.stderr
    assert agent_bases(the_job.scratch / "git", start, known_in(host.clone)) == (tip,)
    assert git(host.worktree, "rev-parse", "HEAD") == start, "our worktree's HEAD did not move"


def test_linear_commits_and_no_commits_take_nothing(host: Host) -> None:
    require_bwrap()
    start = git(host.worktree, "rev-parse", "HEAD")
    quiet = job(host, ["true"], name="quiet")
    run_in(Isolation(), quiet)
    assert agent_bases(quiet.scratch / "git", start, known_in(host.clone)) == ()
    linear = job(
        host,
        ["/bin/sh", "-c", "echo x >> hello.txt && git -c user.name=a -c user.email=a@b commit -qam x"],
        name="linear",
    )
    run_in(Isolation(), linear)
    assert agent_bases(linear.scratch / "git", start, known_in(host.clone)) == ()


def test_a_forged_head_or_a_foreign_object_yields_nothing(host: Host) -> None:
    require_bwrap()
    start = git(host.worktree, "rev-parse", "HEAD")
    the_job = job(host, ["true"])
    run_in(Isolation(), the_job)
    private = the_job.scratch / "git"
    (private / "HEAD").write_text("ref: refs/heads/../../../../etc/passwd\n")
    assert agent_bases(private, start, known_in(host.clone)) == ()
    (private / "HEAD").write_text("0" * 40 + "\n")  # an object that exists nowhere
    assert agent_bases(private, start, known_in(host.clone)) == ()


def test_git_sources_come_from_our_clone(host: Host, tmp_path: Path) -> None:
    source = source_from_clone(host.clone / ".git", host.worktree)
    assert source.git_dir.parent == host.clone / ".git" / "worktrees"
    assert source.objects == host.clone / ".git" / "objects"
    with pytest.raises(GitSourceError):
        source_from_clone(host.clone / ".git", tmp_path)
    assert source_from_worktree(tmp_path) is None
    assert source_from_worktree(host.worktree) == source


def test_a_venv_python_brings_its_environment_and_interpreter(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    mounts = {m.dest: m.source for m in install_mounts(str(venv / "bin" / "python"), "/usr/bin")}
    assert mounts[venv] == venv.resolve(), "the virtual environment itself"
    home = Path(sys.base_prefix)
    assert home in mounts or str(home).startswith("/usr"), "and the interpreter it points at"


def test_a_script_brings_itself_and_its_interpreter(tmp_path: Path) -> None:
    script = tmp_path / "tool"
    script.write_text("#!/usr/bin/env python3\nprint('hi')\n")
    script.chmod(0o755)
    assert script in {m.dest for m in install_mounts(str(script), "/usr/bin:/bin")}


def test_a_version_managers_shim_brings_the_managers_tree(tmp_path: Path) -> None:
    """`python` on PATH was pyenv's shim, which runs `~/.pyenv/libexec/pyenv`: with only the shim shown, the
    test step of every task failed ("libexec/pyenv: No such file or directory") and all issues escalated."""
    manager = tmp_path / ".pyenv"
    (manager / "shims").mkdir(parents=True)
    (manager / "libexec").mkdir()
    shim = manager / "shims" / "python"
    shim.write_text(f'#!/usr/bin/env bash\nexec "{manager}/libexec/pyenv" exec python "$@"\n')
    shim.chmod(0o755)
    mounts = {m.dest for m in install_mounts("python", f"{manager / 'shims'}:/usr/bin:/bin")}
    assert manager in mounts


@pytest.mark.skipif(not Path.home().joinpath(".pyenv", "shims", "python").exists(), reason="no pyenv here")
def test_a_pyenv_python_runs_in_the_sandbox(host: Host) -> None:
    require_bwrap()
    shims = Path.home() / ".pyenv" / "shims"
    the_job = job(host, ["/bin/sh", "-c", "python -c 'print(6 * 7)'"], env={"PATH": f"{shims}:/usr/bin:/bin"})
    result, _ = run_in(Isolation(), replace(the_job, tools=("python",)))
    assert result.stdout.strip() == "42", result.stderr
