"""What the agent leaves in its private git dir is read by us as data — bounded, never through a link, never
blocking: a FIFO for HEAD or packed-refs, a link to /dev/zero or into our own /proc, a loose object that
inflates to gigabytes. Each is planted for real from inside the sandbox; our reader (run in a child process
with a memory cap and a timeout, so a hang or a blow-up is a failure, not a stuck test) takes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator.config.isolation import Isolation
from orchestrator.containment.private_git import source_from_worktree
from tests.containment.conftest import Host, git, job, require_bwrap, run_in

ROOT = Path(__file__).resolve().parents[2]

READER = textwrap.dedent(
    """
    import json, resource, subprocess, sys
    sys.path.insert(0, sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # 1 GiB: a bomb is a MemoryError, not a host OOM
    from pathlib import Path
    from orchestrator.containment.private_git import agent_bases
    clone = sys.argv[3]
    def known(sha):
        done = subprocess.run(["git", "-C", clone, "cat-file", "-e", sha + "^{commit}"], capture_output=True)
        return done.returncode == 0
    print(json.dumps(agent_bases(Path(sys.argv[2]), sys.argv[4], known)))
    """
)

# Each runs inside the sandbox, in the worktree, with `git` pointing at the private git dir.
PLANTS = {
    "head-fifo": "rm -f $G/HEAD && mkfifo $G/HEAD",
    "head-link-to-zero": "rm -f $G/HEAD && ln -s /dev/zero $G/HEAD",
    "packed-refs-fifo": "rm -f $G/packed-refs && mkfifo $G/packed-refs && rm -f $G/refs/heads/*",
    "ref-through-linked-dir": "rm -rf $G/refs/heads && ln -s /proc/self $G/refs/heads && "
    "echo 'ref: refs/heads/environ' > $G/HEAD",
    "packed-refs-link-to-zero": "rm -f $G/packed-refs && ln -s /dev/zero $G/packed-refs",
    "inflating-object": "python3 - <<'PY'\n"
    "import os, zlib\n"
    "g = os.environ['G']\n"
    "head = open(g + '/HEAD').read().split()[-1]\n"
    "c = zlib.compressobj(9)\n"
    "sha = 'ab' + 'c' * 38\n"
    "os.makedirs(g + '/objects/ab', exist_ok=True)\n"
    "head_bytes = b'commit 9999999999\\0tree ' + b'0' * 40 + b'\\n'\n"
    "chunk = b'x' * (1 << 20)\n"
    "# a full flush resets the window: every further 1 MiB compresses to the same bytes, written 3071 times\n"
    "first = c.compress(head_bytes) + c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)\n"
    "again = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)\n"
    "end = c.flush()[:-4]\n"
    "adler = zlib.adler32(head_bytes)\n"
    "for _ in range(3 * 1024):\n"
    "    adler = zlib.adler32(chunk, adler)\n"
    "with open(g + '/objects/ab/' + 'c' * 38, 'wb') as fh:\n"
    "    fh.write(first)\n"
    "    for _ in range(3 * 1024 - 1):\n"
    "        fh.write(again)\n"
    "    fh.write(end + adler.to_bytes(4, 'big'))\n"
    "open(g + '/HEAD', 'w').write(sha + '\\n')\n"
    "PY",
}


def plant(host: Host, name: str, script: str) -> Path:
    the_job = job(host, ["/bin/sh", "-c", f'G="$(git rev-parse --git-dir)"; export G; {script}'], name=name)
    result, _ = run_in(Isolation(), the_job)
    assert result.returncode == 0, result.stderr
    return the_job.scratch / "git"


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_what_the_agent_plants_in_its_git_dir_is_read_bounded_and_never_blocks(host: Host, name: str) -> None:
    require_bwrap()
    start = git(host.worktree, "rev-parse", "HEAD")
    private = plant(host, name, PLANTS[name])
    try:
        out = subprocess.run(
            [sys.executable, "-c", READER, str(ROOT), str(private), str(host.clone), start],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: reading the agent's git dir blocked")
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout) == [], "nothing the agent planted is taken as a base"


def test_a_worktree_git_file_that_is_a_fifo_or_a_link_is_not_read(host: Host, tmp_path: Path) -> None:
    """Without our clone's view, the worktree's own `.git` is read as data: a FIFO does not block, a link
    is not followed."""
    import os

    fifo_tree = tmp_path / "fifo"
    fifo_tree.mkdir()
    os.mkfifo(fifo_tree / ".git")
    assert source_from_worktree(fifo_tree) is None
    link_tree = tmp_path / "link"
    link_tree.mkdir()
    (link_tree / ".git").symlink_to(host.worktree / ".git")
    assert source_from_worktree(link_tree) is None
