"""The bubblewrap command line is a pure function of the SandboxSpec: table-tested, no bwrap needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.containment.bwrap import bwrap_argv
from orchestrator.containment.spec import Mount, SandboxSpec

WORKTREE = Path("/srv/runtime/worktrees/demo/wt-0")


def spec(**overrides: object) -> SandboxSpec:
    fields: dict[str, object] = {
        "mounts": (
            Mount("ro", Path("/usr"), Path("/usr")),
            Mount("symlink", Path("/bin"), "usr/bin"),
            Mount("tmpfs", Path("/tmp")),
            Mount("rw", WORKTREE, WORKTREE),
            Mount("ro", WORKTREE / ".git", Path("/srv/runtime/agent-runs/t/a/sandbox/git.gitfile")),
        ),
        "cwd": WORKTREE,
    }
    fields.update(overrides)
    return SandboxSpec(**fields)  # type: ignore[arg-type]


def test_every_namespace_is_new_with_an_unprivileged_uid_and_its_own_proc() -> None:
    argv = bwrap_argv("/usr/bin/bwrap", spec(), ["claude", "-p"])
    assert argv[:3] == ("/usr/bin/bwrap", "--unshare-all", "--share-net")
    text = " ".join(argv)
    for flag in ("--uid 1000", "--gid 1000", "--die-with-parent", "--proc /proc", "--dev /dev"):
        assert flag in text
    assert argv[-3:] == ("--", "claude", "-p")
    assert argv[argv.index("--chdir") + 1] == str(WORKTREE)


@pytest.mark.parametrize(("share_net", "expected"), [(True, True), (False, False)])
def test_the_network_is_shared_only_when_asked(share_net: bool, expected: bool) -> None:
    argv = bwrap_argv("bwrap", spec(share_net=share_net), ["true"])
    assert ("--share-net" in argv) is expected
    assert "--unshare-all" in argv


def test_mounts_keep_their_order_and_kind() -> None:
    argv = list(bwrap_argv("bwrap", spec(), ["true"]))
    seen = [argv[i : i + 3] for i, a in enumerate(argv) if a in ("--ro-bind", "--bind", "--symlink")]
    assert seen == [
        ["--ro-bind", "/usr", "/usr"],
        ["--symlink", "usr/bin", "/bin"],
        ["--bind", str(WORKTREE), str(WORKTREE)],
        ["--ro-bind", "/srv/runtime/agent-runs/t/a/sandbox/git.gitfile", str(WORKTREE / ".git")],
    ]
    assert argv[argv.index("--tmpfs") + 1] == "/tmp"


def test_no_environment_value_is_ever_on_the_command_line() -> None:
    argv = bwrap_argv("bwrap", spec(), ["true"])
    assert "--setenv" not in argv and "--clearenv" not in argv  # env travels in bwrap's own environment
    assert "/" not in {a for a in argv if a.startswith("--") and a not in ("--",)}


def test_uid_and_hostname_come_from_the_spec() -> None:
    argv = bwrap_argv("bwrap", spec(uid=2000, gid=3000, hostname="box"), ["true"])
    assert argv[argv.index("--uid") + 1] == "2000" and argv[argv.index("--gid") + 1] == "3000"
    assert argv[argv.index("--hostname") + 1] == "box"
