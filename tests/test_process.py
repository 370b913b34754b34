"""The subprocess edge: timeouts and stalls kill the whole group, stdin never blocks, nothing is left behind."""

import time

import pytest

from orchestrator import process


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
