"""The sandbox forge's CI runs pushed code contained (ContainedCI: real bwrap, real forge, real git push): the
CI of a hostile tree sees none of our environment, reads and writes none of our files, has no network and
leaves nothing running; a normal tree's tests still pass or fail as they should; no sandbox → no run."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from orchestrator.config.isolation import Isolation
from orchestrator.containment.forge_ci import ContainedCI, forge_ci_runner
from orchestrator.containment.probe import probe
from orchestrator.sandbox.ci_runner import CIRunner, PlainCI
from orchestrator.sandbox.server import SandboxForge
from tests.loopback import serve_loopback
from tests.sandbox.conftest import WorkingCopy

pytestmark = pytest.mark.skipif(not probe().ok, reason="bubblewrap cannot create a sandbox here")

REPO = "agentos-admin/app"
OUR_SECRET = "ours-0123456789abcdef-never-in-ci"

# The pushed tree's CI: reports what it could see and do as JSON on one line, then leaves a process behind.
PROBE = """
import json, os, socket, subprocess, sys
from pathlib import Path
targets = json.loads(Path("targets.json").read_text())
seen = {"env": dict(os.environ), "read": {}, "wrote": [], "net": {}, "git": []}


def forged(target):  # whether appending to `target` worked
    try:
        with open(target, "a") as fh:
            fh.write("forged by the CI")
        return True
    except OSError:
        return False


# the checkout's git objects are hard links to the forge's repository: none may be changed
for target in [".git/config", *sorted(str(p) for p in Path(".git/objects").rglob("*") if p.is_file())]:
    if forged(target):
        seen["git"].append(target)
    try:
        os.link(target, "linked-" + Path(target).name)
    except OSError:
        continue
    if forged("linked-" + Path(target).name):
        seen["git"].append("link " + target)
for target in targets["files"]:
    try:
        seen["read"][target] = Path(target).read_text(errors="replace")[:200]
    except OSError:
        pass
    if forged(target):
        seen["wrote"].append(target)
for host, port in targets["net"]:
    try:
        socket.create_connection((host, port), timeout=2).close()
        seen["net"][f"{host}:{port}"] = "connected"
    except OSError as exc:
        seen["net"][f"{host}:{port}"] = str(exc)
subprocess.Popen(["setsid", sys.executable, "-c", "import time; time.sleep(1000)", targets["tag"]])
print("PROBE " + json.dumps(seen))
"""


def _forge(tmp_path: Path, runner: CIRunner) -> SandboxForge:
    return SandboxForge(tmp_path / "forge", ci_runner=runner).start()


def _repo(forge: SandboxForge, tmp_path: Path, ci_command: str) -> WorkingCopy:
    repo = forge.core.create_repo("agentos-admin", "app")
    work = WorkingCopy(tmp_path / "work", forge.core.clone_url(repo), forge.git_env())
    work.commit({"README.md": "# app\n"}, "Initial commit")
    work.push("main")
    forge.set_ci_command(REPO, ci_command)
    return work


def _pull_checks(forge: SandboxForge, work: WorkingCopy, files: dict[str, str]) -> dict[str, object]:
    """Push `files` on a topic branch, open a PR, wait for the CI: its one check run."""
    head = work.publish("topic", files, "topic")
    auth = {"Authorization": f"token {forge.token}"}
    opened = requests.post(
        f"{forge.api_url}/repos/{REPO}/pulls",
        json={"title": "t", "head": "topic", "base": "main"},
        headers=auth,
    )
    assert opened.status_code == 201, opened.text
    forge.wait_ci_idle(60)
    runs = requests.get(f"{forge.api_url}/repos/{REPO}/commits/{head}/check-runs", headers=auth).json()
    [check] = runs["check_runs"]
    return dict(check)


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP server of ours on 127.0.0.1: (its port, the connections it accepted)."""
    accepted: list[object] = []

    def take(conn: socket.socket) -> None:
        accepted.append(conn)
        conn.close()

    server = serve_loopback(take)
    yield server.getsockname()[1], accepted
    server.close()


def _alive(tag: str) -> list[int]:
    alive = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if tag.encode() in (entry / "cmdline").read_bytes():
                alive.append(int(entry.name))
        except OSError:
            pass
    return alive


def test_a_hostile_tree_in_the_ci_reaches_no_secret_no_file_no_network_and_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listener: tuple[int, list[object]]
) -> None:
    monkeypatch.setenv("AGENTOS_TEST_SECRET", OUR_SECRET)
    port, accepted = listener
    ours = tmp_path / "ours"
    ours.mkdir()
    host_file = ours / "state.json"
    host_file.write_text(OUR_SECRET)
    tag = f"ci-probe-{time.monotonic_ns()}"
    with _forge(tmp_path, ContainedCI()) as forge:
        work = _repo(forge, tmp_path, f"{sys.executable} probe.py")
        forge_files = [forge.data_dir / "token", forge.data_dir / "forge.sqlite3"]
        bare = forge.data_dir / "git" / "agentos-admin" / "app.git"
        objects_before = {p: p.read_bytes() for p in bare.rglob("*") if p.is_file() and "objects" in p.parts}
        assert objects_before
        guarded = [host_file, *forge_files]
        before = {p: p.read_bytes() for p in guarded}
        targets = {
            "files": [str(p) for p in guarded],
            "net": [["127.0.0.1", port], ["1.1.1.1", 53]],
            "tag": tag,
        }
        check = _pull_checks(forge, work, {"probe.py": PROBE, "targets.json": json.dumps(targets)})
        assert {p: p.read_bytes() for p in guarded} == before
        assert {p: p.read_bytes() for p in objects_before} == objects_before
        token = forge.token
    output = check["output"]
    assert isinstance(output, dict)
    assert check["conclusion"] == "success", output
    assert "bwrap sandbox" in output["summary"]
    line = next(x for x in output["text"].splitlines() if x.startswith("PROBE "))
    seen = json.loads(line.removeprefix("PROBE "))
    # none of our files was there to read; what it "wrote" landed in the sandbox's own /tmp (the host's
    # files are unchanged, above)
    assert seen["read"] == {}
    assert seen["git"] == []
    assert "AGENTOS_TEST_SECRET" not in seen["env"] and OUR_SECRET not in output["text"]
    assert token not in output["text"]
    assert set(seen["env"]) <= {
        "PATH",
        "LANG",
        "CI",
        "HOME",
        "TMPDIR",
        "AGENTOS_RUN",
        "PWD",
        "SHLVL",
        "_",
    } | {n for n in seen["env"] if n.startswith("XDG_")}
    assert all(result != "connected" for result in seen["net"].values()), seen["net"]
    assert accepted == []
    assert _alive(tag) == []


def test_a_green_and_a_red_pytest_conclude_success_and_failure_inside_the_sandbox(tmp_path: Path) -> None:
    with _forge(tmp_path, ContainedCI()) as forge:
        work = _repo(forge, tmp_path, f"{sys.executable} -m pytest -q -p no:cacheprovider")
        green = _pull_checks(forge, work, {"test_ok.py": "def test_ok():\n    assert 1 + 1 == 2\n"})
        work.commit({"test_bad.py": "def test_bad():\n    assert 1 + 1 == 3\n"}, "a failing test")
        work.push("topic")
        forge.wait_ci_idle(60)
        head = work.git("rev-parse", "HEAD")
        runs = requests.get(
            f"{forge.api_url}/repos/{REPO}/commits/{head}/check-runs",
            headers={"Authorization": f"token {forge.token}"},
        ).json()["check_runs"]
    assert green["conclusion"] == "success", green["output"]
    assert "1 passed" in green["output"]["text"]  # type: ignore[index]
    [red] = runs
    assert red["conclusion"] == "failure"
    assert red["output"]["title"] == "Tests failed (exit 1)"
    assert "1 failed, 1 passed" in red["output"]["text"]


def test_without_a_sandbox_the_ci_refuses_to_run_pushed_code_and_says_why(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    unavailable = ContainedCI(Isolation(mode="sudo_user", sudo_user=None))
    with _forge(tmp_path, unavailable) as forge:
        work = _repo(forge, tmp_path, f"touch {ran}")
        check = _pull_checks(forge, work, {"a.txt": "a\n"})
    output = check["output"]
    assert isinstance(output, dict)
    assert check["conclusion"] == "failure"
    assert output["title"] == "CI not run: its sandbox is unavailable"
    assert "sudo_user is not set" in output["summary"] and "never runs pushed code" in output["summary"]
    assert not ran.exists()


def test_the_default_runner_is_no_sandbox_but_never_hands_over_our_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTOS_TEST_SECRET", OUR_SECRET)
    assert "unsandboxed" in PlainCI().describe()
    with SandboxForge(tmp_path / "forge").start() as forge:
        work = _repo(forge, tmp_path, "env; echo HOME=$HOME; stat -c 'run dir mode=%a' ..")
        check = _pull_checks(forge, work, {"a.txt": "a\n"})
        home_root = forge.data_dir / "ci"
    output = check["output"]
    assert isinstance(output, dict)
    assert check["conclusion"] == "success"
    assert OUR_SECRET not in output["text"] and "AGENTOS_TEST_SECRET" not in output["text"]
    assert f"HOME={home_root}" in output["text"] and "unsandboxed" in output["summary"]
    assert "run dir mode=700" in output["text"]  # the run's directory is ours only, whatever the runner


def test_git_works_in_the_ci_checkout_inside_the_sandbox(tmp_path: Path) -> None:
    with _forge(tmp_path, ContainedCI()) as forge:
        work = _repo(forge, tmp_path, "git log --format=%s -n 3 && git status --porcelain")
        check = _pull_checks(forge, work, {"a.txt": "a\n"})
    assert check["conclusion"] == "success", check["output"]
    assert "topic" in check["output"]["text"]  # type: ignore[index]


def test_a_ci_run_past_its_timeout_is_killed_with_all_it_started(tmp_path: Path) -> None:
    tag = f"ci-timeout-{time.monotonic_ns()}"
    sleeper = f"{sys.executable} -c 'import time; time.sleep(1000)' {tag}"
    with _forge(tmp_path, ContainedCI()) as forge:
        forge.ci.timeout = 1.0
        work = _repo(forge, tmp_path, f"setsid {sleeper} & {sleeper}")
        check = _pull_checks(forge, work, {"a.txt": "a\n"})
    assert check["conclusion"] == "timed_out", check["output"]
    assert _alive(tag) == []


def test_the_serve_command_runs_the_ci_in_bwrap_unless_told_none() -> None:
    assert "bwrap sandbox" in forge_ci_runner().describe()
    assert "network none" in forge_ci_runner("bwrap").describe()
    assert forge_ci_runner("none").describe().startswith("NONE: ")
    with pytest.raises(ValueError, match="bwrap, none"):
        forge_ci_runner("docker")
