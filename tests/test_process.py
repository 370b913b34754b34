"""The subprocess edge: timeouts and stalls kill the whole group, stdin never blocks, nothing is left behind."""

import sys
import time

import pytest

from orchestrator.edges import process


def test_output_and_exit_code():
    res = process.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
    assert (res.returncode, res.stdout, res.stderr) == (3, "out\n", "err\n")
    assert not res.ok and res.pid > 0


def test_timeout_kills_the_whole_group():
    res = process.run(["sh", "-c", "sleep 300 & sleep 300"], timeout=1)
    assert res.timed_out and res.returncode is None
    assert not process.group_alive(res.pid)


def test_stall_timeout_fires_on_silence_only():
    chatty = process.run(
        ["sh", "-c", "for i in 1 2 3 4 5 6; do echo $i; sleep 0.3; done"], timeout=10, stall_timeout=1
    )
    assert chatty.ok and chatty.stdout.split() == ["1", "2", "3", "4", "5", "6"]
    silent = process.run(["sh", "-c", "echo hi; sleep 30"], timeout=20, stall_timeout=1)
    assert silent.stalled and not process.group_alive(silent.pid)


def test_large_stdin_to_a_child_that_never_reads_does_not_hang():
    start = time.monotonic()
    res = process.run(["sleep", "30"], stdin="x" * 2_000_000, timeout=1)
    assert res.timed_out
    assert time.monotonic() - start < 10


def test_large_stdin_is_delivered_intact():
    data = "line\n" * 400_000
    res = process.run(["wc", "-c"], stdin=data, timeout=20)
    assert res.stdout.strip() == str(len(data))


def test_daemons_left_behind_by_a_normal_exit_are_killed():
    res = process.run(["bash", "-c", "(sleep 300 >/dev/null 2>&1 &); echo started"], timeout=10)
    assert res.returncode == 0 and res.leftovers_killed
    assert not process.group_alive(res.pid)


def test_on_start_gets_the_pid_and_missing_binaries_are_named():
    seen: list[int] = []
    res = process.run(["true"], timeout=5, on_start=seen.append)
    assert seen == [res.pid]
    with pytest.raises(process.ProcessError, match="no-such-binary"):
        process.run(["no-such-binary-xyz"], timeout=5)


PLANTED = '#!/bin/sh\necho planted > "$(dirname "$0")/ran"\necho planted\n'


@pytest.mark.parametrize("relative", [".", "", "bin", "./tools"])
def test_a_program_is_never_found_through_a_relative_path_entry(tmp_path, monkeypatch, relative):
    """A relative PATH entry (`.`, an empty one, `node_modules/.bin`-style) is looked up in the child's working
    directory — often a worktree an agent wrote: its `git` would run as us, outside any sandbox. Programs are
    looked up in the absolute entries only, and the child's PATH keeps only those."""
    worktree = tmp_path / "worktree"
    where = worktree / relative if relative else worktree
    where.mkdir(parents=True, exist_ok=True)
    for name in ("git", "sh"):
        (where / name).write_text(PLANTED)
        (where / name).chmod(0o755)
    path = f"{relative}:/usr/bin:/bin"
    with_env = process.run(["git", "--version"], cwd=worktree, env={"PATH": path}, timeout=10)
    monkeypatch.setenv("PATH", path)
    inherited = process.run(["sh", "-c", "echo $PATH; git --version"], cwd=worktree, timeout=10)
    assert with_env.ok and with_env.stdout.startswith("git version"), with_env.stdout
    assert inherited.ok and inherited.stdout.split("\n")[1].startswith("git version"), inherited.stdout
    assert inherited.stdout.split("\n")[0] == "/usr/bin:/bin"
    assert not (where / "ran").exists()


def test_a_program_on_no_absolute_path_entry_cannot_start(tmp_path):
    (tmp_path / "tool").write_text(PLANTED)
    (tmp_path / "tool").chmod(0o755)
    with pytest.raises(process.ProcessError, match="'tool'"):
        process.run(["tool"], cwd=tmp_path, env={"PATH": ".:/usr/bin"}, timeout=10)


def test_a_runaway_line_is_skipped_whole_and_the_lines_after_it_count():
    """What counts as progress is read line by line from the CLI's stdout, which agent code can write into.
    A line longer than the cap is skipped to its end — no fragment of it is taken for a line — and the lines
    after it are read as usual."""
    seen: list[str] = []

    def progress(line: str) -> bool:
        seen.append(line)
        return line == "tick"

    script = (
        "import sys, time\n"
        "sys.stdout.write('x' * (10 * 1024 * 1024)); sys.stdout.flush()\n"
        "sys.stdout.write('y' * 1000 + '\\nfirst\\n' + 'tick\\n' * 3000 + 'last\\n'); sys.stdout.flush()\n"
    )
    res = process.run([sys.executable, "-c", script], timeout=60, stall_timeout=30, progress=progress)
    assert res.ok
    assert seen[:2] == ["first", "tick"]  # (the rest of a chunk is not asked once it made progress)
    assert all(len(line) < 100 for line in seen)
