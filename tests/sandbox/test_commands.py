"""`sandbox serve` and `sandbox seed` as a user runs them: a real server process, a real seeding client."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from orchestrator.edges.process import run
from orchestrator.github import queries

ROOT = Path(__file__).resolve().parents[2]
# The subcommands exactly as `register` wires them, without the rest of the CLI.
CLI = (
    "import argparse, sys\n"
    "from orchestrator.containment.forge_ci import forge_ci_runner\n"
    "from orchestrator.sandbox.commands import register\n"
    "parser = argparse.ArgumentParser(prog='sandbox')\n"
    "register(parser.add_subparsers(required=True), ci_runner=forge_ci_runner)\n"
    "args = parser.parse_args()\n"
    "sys.exit(args.func(args))\n"
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", "--data", str(data)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        listening = proc.stdout.readline().strip()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)", listening)
        assert match, listening
        assert proc.stdout.readline().strip() == f"admin token written to {data / 'token'}"
        ci = proc.stdout.readline().strip()
        assert ci == "the CI runs pushed code: bwrap sandbox (uid 1000 inside), network none (no network)", ci
        yield match.group(1), data, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _cli(*args: str) -> tuple[int | None, str]:
    result = run([sys.executable, "-c", CLI, *args], cwd=ROOT, timeout=120)
    return result.returncode, result.stdout + result.stderr


def test_serve_prints_where_it_listens_and_stops_on_sigterm(
    served: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    url, data, proc = served
    token = (data / "token").read_text().strip()
    assert (data / "token").stat().st_mode & 0o777 == 0o600
    who = requests.get(f"{url}/api/v3/user", headers={"Authorization": f"token {token}"}, timeout=10)
    assert who.json()["login"] == "agentos-admin"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert not (data / "server.json").exists()


def test_seed_creates_an_org_repo_with_code_issues_ci_and_a_board(
    served: tuple[str, Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    url, data, _ = served
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text("print('hi')\n")
    issues = tmp_path / "issues.yaml"
    issues.write_text(
        "- title: First\n  body: do it\n  labels: [ready]\n  status: Ready\n"
        "- title: Second\n  labels: [later]\n"
    )
    code, output = _cli(
        "seed", "--data", str(data), "--repo", "acme/widgets", "--from", str(source),
        "--ci-command", "python3 app.py", "--issues", str(issues), "--board",
    )  # fmt: skip
    assert code == 0, output
    assert "board: project #1" in output

    api = requests.Session()
    api.headers["Authorization"] = f"token {(data / 'token').read_text().strip()}"
    repo = api.get(f"{url}/api/v3/repos/acme/widgets").json()
    assert repo["owner"]["type"] == "Organization" and repo["default_branch"] == "main"
    assert api.get(f"{url}/api/v3/repos/acme/widgets/branches/main").json()["commit"]["commit"][
        "message"
    ] == ("Initial commit")
    titles = [
        (i["title"], [x["name"] for x in i["labels"]])
        for i in api.get(f"{url}/api/v3/repos/acme/widgets/issues").json()
    ]
    assert sorted(titles) == [("First", ["ready"]), ("Second", ["later"])]

    board = api.post(
        f"{url}/api/graphql",
        json={"query": queries.BOARD, "variables": {"owner": "acme", "number": 1, "field": "Status"}},
    ).json()["data"]["repositoryOwner"]["projectV2"]
    options = [option["name"] for option in board["field"]["options"]]
    assert options == ["Todo", "Ready", "In Progress", "In Review", "Done", "Blocked"]
    items = api.post(
        f"{url}/api/graphql",
        json={"query": queries.BOARD_ITEMS, "variables": {"id": board["id"], "field": "Status"}},
    ).json()["data"]["node"]["items"]["nodes"]
    statuses = {item["content"]["number"]: (item["fieldValueByName"] or {}).get("name") for item in items}
    assert statuses == {1: "Ready", 2: None}


def test_seed_explains_a_missing_server(tmp_path: Path) -> None:
    code, output = _cli("seed", "--data", str(tmp_path / "nowhere"), "--repo", "a/b")
    assert code == 1
    assert "no running forge found" in output and "Traceback" not in output


def test_serve_tls_and_seed_over_https(tmp_path: Path) -> None:
    """`serve --tls` writes its CA next to the token; `seed --data` finds the URL and the CA in server.json
    and pushes over HTTPS with the token."""
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", "--data", str(data), "--tls"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().removeprefix("listening on ")
        assert url.startswith("https://127.0.0.1:")
        proc.stdout.readline()
        assert proc.stdout.readline().strip().startswith(f"CA certificate written to {data / 'ca.pem'}")
        source = tmp_path / "src"
        source.mkdir()
        (source / "app.py").write_text("print('hi')\n")
        code, output = _cli(
            "seed", "--data", str(data), "--repo", "agentos-admin/site", "--from", str(source)
        )
        assert code == 0, output
        assert f"clone {url}/agentos-admin/site.git" in output
        token = (data / "token").read_text().strip()
        main = requests.get(
            f"{url}/api/v3/repos/agentos-admin/site/contents/app.py",
            headers={"Authorization": f"token {token}"},
            verify=str(data / "ca.pem"),
            timeout=10,
        )
        assert main.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{url}/api/v3/meta", verify=True, timeout=10)  # the system's CAs do not know it
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
