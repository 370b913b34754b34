from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from orchestrator.edges import process
from orchestrator.git import (
    GitConflict,
    GitError,
    GitSettings,
    PoolExhausted,
    PushRefused,
    PushRejected,
    changed_files,
    commit_all,
    diff,
    ensure_clone,
    fetch,
    head_sha,
    is_ancestor,
    is_clean,
    push,
    rebase,
    remote_branch_sha,
    run_git,
)
from orchestrator.git.clones import scratch_dir
from orchestrator.git.result_contract import RESULT_FILE_NAME
from orchestrator.git.worktree_pool import WorktreePool
from tests.git_origin import bare_origin

NAME, EMAIL = "Agent OS", "agent-os@example.test"


def commit_file(worktree: Path, name: str, content: str, message: str = "change") -> str:
    (worktree / name).parent.mkdir(parents=True, exist_ok=True)
    (worktree / name).write_text(content)
    sha = commit_all(worktree, message, "Human", "human@example.test")
    assert sha is not None
    return sha


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare remote with `main` holding README.md and .gitignore, plus a `seed` clone to move main."""
    return bare_origin(tmp_path, {".gitignore": "*.log\n", "README.md": "hello\n"})


@pytest.fixture
def clone(origin: Path, tmp_path: Path) -> Path:
    return ensure_clone(str(origin), tmp_path / "clones" / "demo")


@pytest.fixture
def pool(clone: Path, tmp_path: Path) -> WorktreePool:
    return WorktreePool(clone, tmp_path / "worktrees" / "demo", size=2)


def advance_main(tmp_path: Path, name: str, content: str) -> str:
    seed = tmp_path / "seed"
    sha = commit_file(seed, name, content, f"main: {name}")
    run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], seed)
    return sha


# -------------------------------------------------------------------------------------- clone, fetch


def test_ensure_clone_is_idempotent_and_excludes_result_file(origin: Path, clone: Path) -> None:
    assert (clone / ".git").is_dir()
    assert not (clone / "README.md").exists()  # no checkout: work happens in worktrees
    assert ensure_clone(str(origin), clone) == clone
    exclude = (clone / ".git" / "info" / "exclude").read_text()
    assert exclude.count(f"/{RESULT_FILE_NAME}\n") == 1
    assert sorted(p.name for p in clone.parent.iterdir()) == ["demo", "demo.trusted.git"]


def test_ensure_clone_of_missing_remote_raises_git_error(tmp_path: Path) -> None:
    with pytest.raises(GitError) as info:
        ensure_clone(str(tmp_path / "nope.git"), tmp_path / "c")
    assert info.value.cmd[:2] == ("git", "fetch") and info.value.returncode == 128
    assert "does not appear to be a git repository" in info.value.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "no half-made clone, trusted or working"


def test_fetch_sees_new_commits(pool: WorktreePool, tmp_path: Path) -> None:
    sha = advance_main(tmp_path, "new.txt", "x")
    pool.fetch()
    assert head_sha(pool.repo_dir, "origin/main") == sha


# ----------------------------------------------------------------------------------------------- pool


def test_acquire_gives_clean_worktree_on_branch(pool: WorktreePool) -> None:
    path = pool.acquire("agent/1-fix", "origin/main", owner="task-1")
    assert path == pool.worktrees_dir / "wt-0"
    assert (path / "README.md").read_text() == "hello\n"
    assert run_git(["branch", "--show-current"], path).stdout.strip() == "agent/1-fix"
    assert head_sha(path) == head_sha(pool.repo_dir, "origin/main")
    assert pool.owners() == {"wt-0": "task-1"}


def test_released_worktree_is_reused_and_scrubbed(
    pool: WorktreePool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = pool.acquire("agent/1-fix", "origin/main", owner="task-1")
    (first / "README.md").write_text("dirty\n")
    (first / "untracked.txt").write_text("x")
    (first / "debug.log").write_text("ignored file")
    (first / RESULT_FILE_NAME).write_text("STATUS: complete\n")
    commit_file(first, "committed.txt", "on the old branch")
    pool.release(first)
    assert pool.owners() == {"wt-0": None}
    new_main = advance_main(tmp_path, "later.txt", "y")
    pool.fetch()

    caplog.set_level(logging.DEBUG, logger="orchestrator.git")
    second = pool.acquire("agent/2-other", "origin/main", owner="task-2")
    assert second == first
    assert any(r.message.startswith("reusing worktree") for r in caplog.records)
    assert not any(r.message.startswith("adding worktree") for r in caplog.records)
    assert sorted(p.name for p in second.iterdir()) == [".git", ".gitignore", "README.md", "later.txt"]
    assert (second / "README.md").read_text() == "hello\n"
    assert head_sha(second) == new_main
    assert is_clean(second)
    listed = run_git(["worktree", "list", "--porcelain"], pool.repo_dir).stdout
    assert listed.count("worktree ") == 2  # the clone itself and one pooled worktree


def test_second_busy_slot_is_a_fresh_worktree_and_pool_has_a_size(pool: WorktreePool) -> None:
    a = pool.acquire("agent/1-a", "origin/main", owner="task-1")
    b = pool.acquire("agent/2-b", "origin/main", owner="task-2")
    assert (a.name, b.name) == ("wt-0", "wt-1")
    with pytest.raises(PoolExhausted, match="all 2 worktrees"):
        pool.acquire("agent/3-c", "origin/main", owner="task-3")
    pool.release(a)
    assert pool.acquire("agent/3-c", "origin/main", owner="task-3") == a


def test_same_branch_can_move_between_slots(pool: WorktreePool) -> None:
    a = pool.acquire("agent/1-a", "origin/main", owner="task-1")
    pool.acquire("agent/2-b", "origin/main", owner="task-2")
    pool.release(a)
    b2 = pool.acquire("agent/1-a", "origin/main", owner="task-1b")
    assert run_git(["branch", "--show-current"], b2).stdout.strip() == "agent/1-a"


def test_resume_returns_owners_worktree_untouched(pool: WorktreePool) -> None:
    path = pool.acquire("agent/1-a", "origin/main", owner="task-1")
    (path / "work.txt").write_text("half done")
    assert pool.acquire("agent/1-a", "origin/main", owner="task-1", resume=True) == path
    assert (path / "work.txt").read_text() == "half done"
    assert pool.acquire("agent/1-a", "origin/main", owner="task-1") == path
    assert not (path / "work.txt").exists()


def test_failed_acquire_frees_the_slot(pool: WorktreePool) -> None:
    with pytest.raises(GitError):
        pool.acquire("agent/1-a", "origin/no-such-branch", owner="task-1")
    assert pool.owners() == {"wt-0": None}
    assert pool.acquire("agent/1-a", "origin/main", owner="task-1").name == "wt-0"


def test_reconcile_frees_dead_owners_and_forgets_missing_worktrees(pool: WorktreePool) -> None:
    a = pool.acquire("agent/1-a", "origin/main", owner="task-1")
    b = pool.acquire("agent/2-b", "origin/main", owner="task-2")
    run_git(["worktree", "remove", "--force", "--force", str(b)], pool.repo_dir)
    stray = pool.worktrees_dir / "wt-7"
    stray.mkdir()
    (stray / "junk").write_text("x")
    first = pool.reconcile(live_task_ids=["task-9"])
    assert first.freed == (), "its holder (this process) still runs"
    assert first.removed == ("wt-1", "wt-7")
    _holder_died(pool, "wt-0")
    assert pool.reconcile(live_task_ids=["task-9"]).freed == ("wt-0",)
    assert pool.owners() == {"wt-0": None}
    assert not stray.exists()
    assert pool.acquire("agent/3-c", "origin/main", owner="task-3") == a
    assert pool.reconcile(live_task_ids=["task-3"]).freed == ()


def test_reconcile_removes_commit_build_scratch_of_dead_processes_only(
    pool: WorktreePool, clone: Path
) -> None:
    """A queue killed mid commit build leaves `agentos-tmp/<pid>-…` in the trusted clone; the queue's
    reconcile removes it once that process is gone, never a live process's (make chaos, item 2)."""
    base = clone.parent / "demo.trusted.git" / "agentos-tmp"
    dead = process.run(["true"], timeout=10).pid
    names = (f"{dead}-killed", f"{os.getpid()}-building", "legacy-old", "legacy-new")
    for name in names:
        (base / name).mkdir(parents=True)
        (base / name / "index").write_bytes(b"DIRC")
    hours_ago = time.time() - 7200
    os.utime(base / "legacy-old", (hours_ago, hours_ago))
    pool.reconcile([])
    assert sorted(p.name for p in base.iterdir()) == sorted([f"{os.getpid()}-building", "legacy-new"])


def test_a_commit_build_scratch_names_its_process(clone: Path) -> None:
    trusted = clone.parent / "demo.trusted.git"
    assert scratch_dir(trusted).parent == trusted / "agentos-tmp"
    assert scratch_dir(trusted).name.startswith(f"{os.getpid()}-")


def _holder_died(pool: WorktreePool, slot: str) -> None:
    """Make a slot look held by a process that is gone (as after a kill -9 of the job holding it)."""

    def rewrite(state: dict) -> dict:
        state["slots"][slot]["pid"] = 2**22 + 12345  # beyond pid_max defaults: never a running process
        return state

    pool.state.update(rewrite)


# ------------------------------------------------------------------------------------ commit and push


def test_commit_all_skips_result_file_and_uses_given_identity(
    pool: WorktreePool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Wrong Person\n\temail = wrong@example.test\n")
    monkeypatch.setenv("HOME", str(home))
    path = pool.acquire("agent/1-a", "origin/main", owner="task-1")
    (path / RESULT_FILE_NAME).write_text("STATUS: complete\nSUMMARY: x\n")
    assert commit_all(path, "nothing", NAME, EMAIL) is None
    (path / "src").mkdir()
    (path / "src" / "a.py").write_text("print(1)\n")
    (path / "README.md").unlink()
    sha = commit_all(path, "Add a.py\n\nCloses #1", NAME, EMAIL)
    assert sha == head_sha(path)
    shown = run_git(["show", "--name-status", "--format=%an <%ae>|%cn|%B", sha], path).stdout
    assert shown.startswith(f"{NAME} <{EMAIL}>|{NAME}|Add a.py\n\nCloses #1\n")
    assert "A\tsrc/a.py" in shown and "D\tREADME.md" in shown and RESULT_FILE_NAME not in shown
    assert (path / RESULT_FILE_NAME).exists()
    assert changed_files(path, "origin/main") == ("README.md", "src/a.py")
    assert "+print(1)" in diff(path, "origin/main")


def test_push_refuses_anything_but_agent_branches(pool: WorktreePool) -> None:
    path = pool.acquire("agent/1-a", "origin/main", owner="task-1")
    for branch in ("main", "master", "release/1.0", "agent/", "agentx/1", "agent/../main", "agent/a b"):
        with pytest.raises(PushRefused):
            push(path, branch)
    assert remote_branch_sha(pool.repo_dir, "main") == head_sha(pool.repo_dir, "origin/main")


def test_push_and_force_with_lease(pool: WorktreePool) -> None:
    path = pool.acquire("agent/1-a", "origin/main", owner="task-1")
    assert remote_branch_sha(pool.repo_dir, "agent/1-a") is None
    first = commit_file(path, "a.txt", "1")
    assert push(path, "agent/1-a", force_with_lease="") == first  # "" = must not exist yet
    assert remote_branch_sha(pool.repo_dir, "agent/1-a") == first
    commit_file(path, "b.txt", "1")
    with pytest.raises(PushRejected):
        push(path, "agent/1-a", force_with_lease="")  # now it exists
    run_git(["reset", "--quiet", "--hard", "HEAD~2"], path)
    rewritten = commit_file(path, "a.txt", "2")
    with pytest.raises(PushRejected):
        push(path, "agent/1-a")  # not a fast-forward
    with pytest.raises(PushRejected):
        push(path, "agent/1-a", force_with_lease="0" * 40)  # stale lease
    assert push(path, "agent/1-a", force_with_lease=first) == rewritten
    assert remote_branch_sha(pool.repo_dir, "agent/1-a") == rewritten


# ---------------------------------------------------------------------------------------------- rebase


def test_rebase_onto_moved_base(pool: WorktreePool, tmp_path: Path) -> None:
    path = pool.acquire("agent/1-a", "origin/main", owner="task-1")
    commit_file(path, "feature.txt", "f")
    new_main = advance_main(tmp_path, "other.txt", "o")
    pool.fetch()
    assert not is_ancestor(path, "origin/main", "HEAD")
    new_head = rebase(path, "origin/main")
    assert new_head == head_sha(path)
    assert is_ancestor(path, new_main, "HEAD")
    assert changed_files(path, "origin/main") == ("feature.txt",)


def test_rebase_conflict_raises_and_leaves_worktree_clean(pool: WorktreePool, tmp_path: Path) -> None:
    path = pool.acquire("agent/1-a", "origin/main", owner="task-1")
    before = commit_file(path, "README.md", "agent's version\n")
    advance_main(tmp_path, "README.md", "human's version\n")
    pool.fetch()
    with pytest.raises(GitConflict) as info:
        rebase(path, "origin/main")
    assert info.value.paths == ("README.md",)
    assert "CONFLICT" in info.value.stderr + str(info.value)
    assert head_sha(path) == before
    assert is_clean(path)
    assert (path / "README.md").read_text() == "agent's version\n"
    assert run_git(["branch", "--show-current"], path).stdout.strip() == "agent/1-a"


def test_a_rebase_cut_short_that_git_cannot_abort_does_not_wedge_the_slot(
    pool: WorktreePool, tmp_path: Path
) -> None:
    """make chaos: a pr_monitor killed (or out of disk) mid-rebase left `rebase-merge/` with an empty
    orig-head; `git rebase --abort` then fails ("invalid orig-head: ''") and every later acquire of that slot
    crashed. The state is dropped and the slot is reset like any other."""
    path = pool.acquire("agent/1-a", "origin/main", owner="rebase-7")
    commit_file(path, "README.md", "agent's version\n")
    advance_main(tmp_path, "README.md", "human's version\n")
    pool.fetch()
    run_git(["rebase", "--quiet", "origin/main"], path, ok_codes=(0, 1))  # stops on the conflict
    state = path / run_git(["rev-parse", "--git-path", "rebase-merge"], path).stdout.strip()
    (state / "orig-head").write_text("")  # what a kill or ENOSPC mid-rebase leaves
    with pytest.raises(GitError, match="orig-head"):
        run_git(["rebase", "--abort"], path)
    pool.release(path)

    again = pool.acquire("agent/2-b", "origin/main", owner="task-2")
    assert again == path, "the same slot was reused"
    assert not state.exists()
    assert is_clean(again)
    assert run_git(["branch", "--show-current"], again).stdout.strip() == "agent/2-b"
    assert (again / "README.md").read_text() == "human's version\n"


# ----------------------------------------------------------------------------------- environment, errors


def test_extra_config_reaches_git_without_appearing_on_the_command_line(clone: Path) -> None:
    settings = GitSettings(config=(("http.extraHeader", "Authorization: Basic c2VjcmV0"),))
    result = run_git(["config", "--get", "http.extraHeader"], clone, settings)
    assert result.stdout.strip() == "Authorization: Basic c2VjcmV0"
    assert "c2VjcmV0" not in " ".join(result.argv)
    assert run_git(["config", "--get", "core.hooksPath"], clone).stdout.strip() == os.devnull


def test_timeout_kills_git_and_raises(clone: Path) -> None:
    settings = GitSettings(network_timeout_s=1.0, config=(("protocol.ext.allow", "always"),))
    started = time.monotonic()
    with pytest.raises(GitError) as info:
        run_git(["ls-remote", "ext::sleep 30"], clone, settings, network=True)
    assert info.value.returncode is None
    assert "timed out after 1s" in str(info.value)
    assert time.monotonic() - started < 10


def test_git_error_carries_command_code_and_stderr(clone: Path) -> None:
    with pytest.raises(GitError) as info:
        head_sha(clone, "no-such-ref")
    assert info.value.cmd == ("git", "rev-parse", "--verify", "--quiet", "no-such-ref^{commit}")
    assert info.value.returncode == 1


def test_fetch_from_missing_remote_fails(clone: Path) -> None:
    with pytest.raises(GitError, match="exited 128"):
        fetch(clone, "nowhere")


def test_reconcile_keeps_a_slot_its_holder_is_adding(pool: WorktreePool) -> None:
    """A queue's maintenance ran while another worker had reserved a new slot but git had not listed its
    worktree yet: the slot was dropped and its directory deleted under the worker (one issue of three never
    got a PR). A reserved slot being added survives reconcile; once added it is an ordinary held slot."""
    name, how = pool._reserve("task-1", "agent/1-a")  # the reservation, before `git worktree add`
    assert how == "new"
    assert pool.reconcile(live_task_ids=["task-1"]).removed == ()
    assert pool.owners() == {name: "task-1"}
    path = pool.acquire("agent/1-a", "origin/main", owner="task-1")
    assert path.name == name
    assert run_git(["branch", "--show-current"], path).stdout.strip() == "agent/1-a"
    _holder_died(pool, name)
    pool._set_adding(name, True)
    run_git(["worktree", "remove", "--force", "--force", str(path)], pool.repo_dir)
    assert pool.reconcile(live_task_ids=[]).removed == (name,), "a dead holder's half-added slot goes"


def test_a_prune_while_a_slots_git_file_is_missing_keeps_the_slot(pool: WorktreePool) -> None:
    """The agent may delete its worktree's `.git` file and we rewrite it (restore_git_file); a `git worktree
    prune` of another worker in that moment took the slot's admin dir, and every later git command on the
    slot failed ("not a git repository"; two issues of twelve never ran on a three-host run)."""
    path = pool.acquire("agent/1-a", "origin/main", owner="task-1")
    (path / ".git").unlink()
    run_git(["worktree", "prune"], pool.repo_dir)
    assert pool.layout.admin_dir(path).is_dir(), "the live slot's admin dir survives a prune"
    pool.release(path)
    again = pool.acquire("agent/2-b", "origin/main", owner="task-2")
    assert again == path
    assert run_git(["branch", "--show-current"], again).stdout.strip() == "agent/2-b"
