"""Fault injection, and the sandbox CI reacting to pushes through the bare repo's post-receive hook."""

from __future__ import annotations

from collections import Counter
from typing import Any

import requests

from orchestrator.sandbox.faults import FaultConfig
from orchestrator.sandbox.server import SandboxForge
from tests.sandbox.conftest import WorkingCopy

SEEDED_FAULTS = FaultConfig(
    error_rate=0.3,
    error_statuses=(502,),
    rate_limit_rate=0.2,
    secondary_limit_rate=0.2,
    retry_after_seconds=7,
    seed=42,
)


def _statuses(forge: SandboxForge, api: requests.Session, n: int) -> list[requests.Response]:
    return [api.get(f"{forge.api_url}/user") for _ in range(n)]


def test_fault_injection_yields_the_configured_answers(forge: SandboxForge, api: requests.Session) -> None:
    forge.set_faults(SEEDED_FAULTS)
    answers = _statuses(forge, api, 120)
    counts = Counter(a.status_code for a in answers)
    assert set(counts) == {200, 502, 429, 403}
    assert 20 <= counts[502] <= 55 and 10 <= counts[429] <= 40 and 10 <= counts[403] <= 40
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.headers["Retry-After"] == "7"
    secondary = next(a for a in answers if a.status_code == 403)
    assert secondary.json()["message"].startswith("You have exceeded a secondary rate limit")
    assert secondary.headers["Retry-After"] == "7"

    forge.set_faults(SEEDED_FAULTS)
    again = [a.status_code for a in _statuses(forge, api, 120)]
    assert again == [a.status_code for a in answers]  # same seed, same sequence

    forge.set_faults(FaultConfig())
    assert {a.status_code for a in _statuses(forge, api, 20)} == {200}
    stats = requests.get(f"{forge.url}/_sandbox/stats", headers={"Authorization": f"token {forge.token}"})
    assert stats.status_code == 200  # admin endpoints are never faulted


def test_faults_over_http_and_latency(forge: SandboxForge, api: requests.Session) -> None:
    admin = f"{forge.url}/_sandbox/faults"
    assert api.put(admin, json={"error_rate": 2}).status_code == 422
    assert api.put(admin, json={"bogus": 1}).status_code == 422
    assert (
        api.put(admin, json={"error_rate": 1.0, "error_statuses": [500], "latency_ms": 50}).status_code == 200
    )
    answer = api.get(f"{forge.api_url}/user")
    assert answer.status_code == 500 and answer.elapsed.total_seconds() >= 0.05
    assert api.post(forge.graphql_url, json={"query": "{ viewer { login } }"}).status_code == 500
    api.put(admin, json={})
    assert api.get(f"{forge.api_url}/user").status_code == 200


def test_push_to_a_pull_request_branch_reruns_ci(
    forge: SandboxForge, gh: Any, seeded: tuple[Any, WorkingCopy]
) -> None:
    repo, work = seeded
    forge.set_ci_command(repo.full_name, "echo running the tests; test ! -f broken.txt")
    first = work.publish("topic", {"topic.txt": "1\n"}, "topic")
    pr = repo.create_pull(title="topic", body="", head="topic", base="main")
    forge.wait_ci_idle(60)
    assert repo.get_pull(pr.number).mergeable_state == "clean"

    second = work.commit({"broken.txt": "oops\n"}, "break the tests")
    work.push("topic")  # through git only: the post-receive hook tells the forge
    assert repo.get_pull(pr.number).head.sha == second != first
    forge.wait_ci_idle(60)
    [failed] = list(repo.get_commit(second).get_check_runs())
    assert (failed.status, failed.conclusion) == ("completed", "failure")
    assert failed.output.title == "Tests failed (exit 1)"
    assert "running the tests" in failed.output.text
    assert "merged into main" in failed.output.summary
    assert repo.get_pull(pr.number).mergeable_state == "unstable"
    [passed] = list(repo.get_commit(first).get_check_runs())
    assert passed.conclusion == "success"


def test_the_ci_tests_the_head_merged_into_the_current_base(
    forge: SandboxForge, gh: Any, seeded: tuple[Any, WorkingCopy]
) -> None:
    repo, work = seeded
    forge.set_ci_command(repo.full_name, "test -f from-main.txt && test -f from-topic.txt")
    work.publish("topic", {"from-topic.txt": "t\n"}, "topic")
    work.publish("main", {"from-main.txt": "m\n"}, "main moves on")
    pr = repo.create_pull(title="topic", body="", head="topic", base="main")
    forge.wait_ci_idle(60)
    [run] = list(repo.get_commit(pr.head.sha).get_check_runs())
    assert run.conclusion == "success"
    assert repo.get_pull(pr.number).mergeable_state == "behind"


def test_no_ci_command_means_no_checks(forge: SandboxForge, gh: Any, seeded: tuple[Any, WorkingCopy]) -> None:
    repo, work = seeded
    work.publish("quiet", {"q.txt": "q\n"}, "quiet")
    pr = repo.create_pull(title="quiet", body="", head="quiet", base="main")
    forge.wait_ci_idle(5)
    assert list(repo.get_commit(pr.head.sha).get_check_runs()) == []
    assert repo.get_pull(pr.number).mergeable_state == "clean"


def test_deleting_a_head_branch_closes_its_pull_request(gh: Any, seeded: tuple[Any, WorkingCopy]) -> None:
    repo, work = seeded
    work.publish("doomed", {"d.txt": "d\n"}, "doomed")
    pr = repo.create_pull(title="doomed", body="", head="doomed", base="main")
    work.git("push", "-q", work.clone_url, ":refs/heads/doomed")  # deleted with git: the hook reports it
    assert repo.get_pull(pr.number).state == "closed"
    assert not repo.get_pull(pr.number).merged


def test_a_restarted_forge_finishes_ci_runs_left_unfinished(tmp_path: Any) -> None:
    with SandboxForge(tmp_path / "f", ci_workers=0) as first:
        repo = first.core.create_repo("agentos-admin", "app")
        work = WorkingCopy(tmp_path / "w", first.core.clone_url(repo), first.git_env())
        work.commit({"a.txt": "a\n"}, "a")
        work.push("main")
        first.set_ci_command("agentos-admin/app", "true")
        head = work.publish("topic", {"b.txt": "b\n"}, "b")
        requests.post(
            f"{first.api_url}/repos/agentos-admin/app/pulls",
            json={"title": "t", "head": "topic", "base": "main"},
            headers={"Authorization": f"token {first.token}"},
        )
    with SandboxForge(tmp_path / "f") as second:
        second.wait_ci_idle(60)
        runs = requests.get(
            f"{second.api_url}/repos/agentos-admin/app/commits/{head}/check-runs",
            headers={"Authorization": f"token {second.token}"},
        ).json()["check_runs"]
        assert [(r["status"], r["conclusion"]) for r in runs] == [("completed", "success")]
