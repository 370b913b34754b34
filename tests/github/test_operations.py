"""What each write sends and how its outcomes map to named errors (claim, merge, labels, checks)."""

from __future__ import annotations

import pytest

from orchestrator.github.errors import ClaimLost, HeadChanged, MergeConflict, ValidationFailed
from orchestrator.values.models import CheckState
from tests.github import payloads
from tests.github.conftest import ClientFactory, FakeSleep, Reply, ScriptedServer

SHA = "c" * 40
OTHER = "d" * 40
REFS = "/api/v3/repos/o/r/git/refs"
REF = "/api/v3/repos/o/r/git/ref/heads%2Fagent%2F12-fix"
EXISTS = Reply(422, {"message": "Reference already exists"})


def ref(sha: str) -> Reply:
    return Reply(200, {"ref": "refs/heads/agent/12-fix", "object": {"sha": sha, "type": "commit"}})


# --- the claim ---------------------------------------------------------------------------------------------
def test_create_branch_posts_the_ref(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.script("POST", REFS, Reply(201, {"ref": "refs/heads/agent/12-fix", "object": {"sha": SHA}}))
    make_client().create_branch("o/r", "agent/12-fix", SHA)
    assert server.seen("POST", REFS)[0].body == {"ref": "refs/heads/agent/12-fix", "sha": SHA}


@pytest.mark.parametrize("holder_sha", [SHA, OTHER])
def test_existing_ref_is_claim_lost(
    server: ScriptedServer, make_client: ClientFactory, holder_sha: str
) -> None:
    """A first-attempt 422 means someone else created the ref, even at the same commit."""
    server.script("POST", REFS, EXISTS)
    server.script("GET", REF, ref(holder_sha))
    with pytest.raises(ClaimLost, match="agent/12-fix"):
        make_client().create_branch("o/r", "agent/12-fix", SHA)


def test_422_at_our_sha_after_a_lost_5xx_answer_is_ours(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.script("POST", REFS, Reply(500, {"message": "boom"}), EXISTS)
    server.script("GET", REF, ref(SHA))
    make_client().create_branch("o/r", "agent/12-fix", SHA)  # no ClaimLost: our first attempt landed
    assert len(server.seen("POST", REFS)) == 2


def test_422_at_another_sha_after_a_5xx_is_claim_lost(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.script("POST", REFS, Reply(504), EXISTS)
    server.script("GET", REF, ref(OTHER))
    with pytest.raises(ClaimLost):
        make_client().create_branch("o/r", "agent/12-fix", SHA)


def test_422_after_a_rate_limit_is_claim_lost(server: ScriptedServer, make_client: ClientFactory) -> None:
    """A 429 proves GitHub did not act, so the ref found afterwards belongs to someone else."""
    server.script("POST", REFS, Reply(429, {"message": "slow"}, {"Retry-After": "1"}), EXISTS)
    server.script("GET", REF, ref(SHA))
    with pytest.raises(ClaimLost):
        make_client().create_branch("o/r", "agent/12-fix", SHA)


def test_422_for_a_bad_sha_is_a_validation_error(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.script("POST", REFS, Reply(422, {"message": "Object does not exist"}))
    with pytest.raises(ValidationFailed, match="Object does not exist"):
        make_client().create_branch("o/r", "agent/12-fix", SHA)


def test_branch_sha_and_missing_branch(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.script("GET", REF, ref(SHA))
    client = make_client()
    assert client.get_branch_sha("o/r", "agent/12-fix") == SHA
    assert client.get_branch_sha("o/r", "agent/none") is None


@pytest.mark.parametrize(
    "gone", [Reply(204), Reply(422, {"message": "Reference does not exist"}), Reply(404)]
)
def test_delete_branch_that_is_gone_is_fine(
    server: ScriptedServer, make_client: ClientFactory, gone: Reply
) -> None:
    server.script("DELETE", "/api/v3/repos/o/r/git/refs/heads%2Fagent%2F12-fix", gone)
    make_client().delete_branch("o/r", "agent/12-fix")


# --- merge -------------------------------------------------------------------------------------------------
MERGE = "/api/v3/repos/o/r/pulls/5/merge"


def test_merge_sends_the_expected_head_and_returns_the_commit(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.script("PUT", MERGE, Reply(200, {"sha": "e" * 40, "merged": True, "message": "merged"}))
    assert make_client().merge_pull("o/r", 5, sha=SHA, title="Fix (#5)") == "e" * 40
    assert server.seen("PUT", MERGE)[0].body == {
        "sha": SHA,
        "merge_method": "squash",
        "commit_title": "Fix (#5)",
    }


def test_merge_409_is_head_changed(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.script(
        "PUT", MERGE, Reply(409, {"message": "Head branch was modified. Review and try the merge again."})
    )
    with pytest.raises(HeadChanged):
        make_client().merge_pull("o/r", 5, sha=SHA)


def test_merge_405_is_merge_conflict(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.script("PUT", MERGE, Reply(405, {"message": "Pull Request is not mergeable"}))
    with pytest.raises(MergeConflict, match="not mergeable"):
        make_client().merge_pull("o/r", 5, sha=SHA)


def test_merge_whose_first_answer_was_lost_returns_the_merge_commit(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.script("PUT", MERGE, Reply(502), Reply(405, {"message": "Pull Request is not mergeable"}))
    merged = payloads.pull(5, head_sha=SHA, merged=True, merge_commit_sha="f" * 40, state="closed")
    server.script("GET", "/api/v3/repos/o/r/pulls/5", Reply(200, merged))
    assert make_client().merge_pull("o/r", 5, sha=SHA) == "f" * 40


# --- labels and issues -------------------------------------------------------------------------------------
def test_labels_are_added_as_an_object(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.script("POST", "/api/v3/repos/o/r/issues/3/labels", Reply(200, [{"name": "ready"}]))
    make_client().add_labels("o/r", 3, ["ready", "bug"])
    assert server.requests[0].body == {"labels": ["ready", "bug"]}


def test_removing_an_absent_label_is_fine(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.script(
        "DELETE",
        "/api/v3/repos/o/r/issues/3/labels/in%20progress",
        Reply(404, {"message": "Label does not exist"}),
    )
    make_client().remove_label("o/r", 3, "in progress")
    assert len(server.requests) == 1


def test_ensure_labels_creates_only_the_missing_ones(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    server.script(
        "GET", "/api/v3/repos/o/r/labels?per_page=100", Reply(200, [{"name": "Ready", "color": "00ff00"}])
    )
    server.script("POST", "/api/v3/repos/o/r/labels", Reply(201, {"name": "blocked"}))
    make_client().ensure_labels("o/r", {"ready": "0e8a16", "blocked": "#b60205"})
    assert [r.body for r in server.seen("POST", "/api/v3/repos/o/r/labels")] == [
        {"name": "blocked", "color": "b60205"}
    ]


def test_close_issue_and_comment(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.script("PATCH", "/api/v3/repos/o/r/issues/3", Reply(200, payloads.issue(3, state="closed")))
    server.script("POST", "/api/v3/repos/o/r/issues/3/comments", Reply(201, {"id": 1}))
    client = make_client()
    client.comment_issue("o/r", 3, "done")
    client.close_issue("o/r", 3, reason="not_planned")
    assert [r.body for r in server.requests] == [
        {"body": "done"},
        {"state": "closed", "state_reason": "not_planned"},
    ]
    assert client.stats.writes == 2


# --- pull requests -----------------------------------------------------------------------------------------
def test_pulls_files_and_diff(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.script(
        "GET",
        "/api/v3/repos/o/r/pulls?head=o%3Aagent%2F5-fix&per_page=100&state=open",
        Reply(200, [payloads.pull(5)]),
    )
    server.script("GET", "/api/v3/repos/o/r/pulls/5/files?per_page=100", Reply(200, [{"filename": "a.py"}]))
    server.script("GET", "/api/v3/repos/o/r/pulls/5", Reply(200, "diff --git a/a.py b/a.py\n"))
    client = make_client()
    [pr] = client.list_pulls("o/r", head="agent/5-fix")
    assert (pr.head_ref, pr.base_ref, pr.mergeable, pr.author) == ("agent/5-fix", "main", None, "agent")
    assert client.pull_files("o/r", 5) == ["a.py"]
    assert client.pull_diff("o/r", 5).startswith("diff --git")
    assert server.requests[-1].headers["Accept"] == "application/vnd.github.diff"


def test_update_pull_sends_only_what_changes(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.script("PATCH", "/api/v3/repos/o/r/pulls/5", Reply(200, payloads.pull(5)))
    client = make_client()
    client.update_pull("o/r", 5, state="closed")
    client.update_pull("o/r", 5)
    assert [r.body for r in server.requests] == [{"state": "closed"}]


# --- checks ------------------------------------------------------------------------------------------------
RUNS = f"/api/v3/repos/o/r/commits/{SHA}/check-runs?per_page=100"
STATUS = f"/api/v3/repos/o/r/commits/{SHA}/status?per_page=100"


@pytest.mark.parametrize(
    ("runs", "statuses", "verdict"),
    [
        ([], [], CheckState.NONE),
        ([payloads.check_run("test")], [], CheckState.SUCCESS),
        ([payloads.check_run("test")], [payloads.status("ci/lint", "success")], CheckState.SUCCESS),
        ([payloads.check_run("test", "in_progress", None)], [], CheckState.PENDING),
        ([payloads.check_run("test")], [payloads.status("ci/lint", "pending")], CheckState.PENDING),
        (
            [payloads.check_run("test", "queued", None)],
            [payloads.status("ci/lint", "failure")],
            CheckState.FAILURE,
        ),
        ([payloads.check_run("test", "completed", "timed_out")], [], CheckState.FAILURE),
        (
            [payloads.check_run("docs", "completed", "skipped")],
            [payloads.status("x", "error")],
            CheckState.FAILURE,
        ),
        ([payloads.check_run("docs", "completed", "neutral")], [], CheckState.SUCCESS),
    ],
)
def test_checks_verdict(
    server: ScriptedServer, make_client: ClientFactory, runs: list, statuses: list, verdict: CheckState
) -> None:
    server.script("GET", RUNS, Reply(200, {"total_count": len(runs), "check_runs": runs}))
    server.script("GET", STATUS, Reply(200, {"state": "pending", "statuses": statuses}))
    summary = make_client().checks("o/r", SHA)
    assert summary.state is verdict
    assert len(summary.runs) == len(runs) + len(statuses)


def test_failing_checks_keep_their_summary(server: ScriptedServer, make_client: ClientFactory) -> None:
    server.script(
        "GET",
        RUNS,
        Reply(200, {"total_count": 1, "check_runs": [payloads.check_run("test", "completed", "failure")]}),
    )
    server.script("GET", STATUS, Reply(200, {"state": "pending", "statuses": []}))
    [failing] = make_client().checks("o/r", SHA).failing
    assert (failing.name, failing.summary, failing.details_url) == (
        "test",
        "test summary",
        "https://ci.example/test",
    )


def test_idle_checks_poll_costs_nothing(
    server: ScriptedServer, make_client: ClientFactory, fake_time: FakeSleep
) -> None:
    from tests.github.test_requests import etag_handler

    server.handle("GET", RUNS, etag_handler(lambda: {"total_count": 0, "check_runs": []}))
    server.handle("GET", STATUS, etag_handler(lambda: {"state": "pending", "statuses": []}))
    make_client().checks("o/r", SHA)
    again = make_client()
    assert again.checks("o/r", SHA).state is CheckState.NONE
    assert (again.stats.counted, again.stats.not_modified) == (0, 2)


def test_create_pull_returns_the_existing_pr_when_one_is_open(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    exists = Reply(
        422,
        {
            "message": "Validation Failed",
            "errors": [{"message": "A pull request already exists for o:agent/5-fix."}],
        },
    )
    server.script("POST", "/api/v3/repos/o/r/pulls", exists)
    server.script(
        "GET",
        "/api/v3/repos/o/r/pulls?base=main&head=o%3Aagent%2F5-fix&per_page=100&state=open",
        Reply(200, [payloads.pull(5)]),
    )
    pr = make_client().create_pull("o/r", title="t", body="b", head="agent/5-fix", base="main")
    assert pr.number == 5


def test_create_pull_422_for_another_reason_is_validation_failed(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    invalid = Reply(422, {"message": "Validation Failed", "errors": [{"field": "base", "code": "invalid"}]})
    server.script("POST", "/api/v3/repos/o/r/pulls", invalid)
    server.script(
        "GET",
        "/api/v3/repos/o/r/pulls?base=nope&head=o%3Aagent%2F5-fix&per_page=100&state=open",
        Reply(200, []),
    )
    with pytest.raises(ValidationFailed, match="base"):
        make_client().create_pull("o/r", title="t", body="b", head="agent/5-fix", base="nope")


def test_client_implements_the_forge_protocol(make_client: ClientFactory) -> None:
    from orchestrator.github.protocol import Forge, RequestStats

    forge: Forge = make_client()  # mypy checks the structural match; a signature drift fails `make check`
    assert forge.stats == RequestStats()


def test_comment_bodies_are_redacted_before_they_leave(
    server: ScriptedServer, make_client: ClientFactory
) -> None:
    """A token shape in text we post (e.g. an agent summary or a CI log excerpt) never reaches GitHub."""
    token = "gh" + "p_" + "Zq7Yx5Wv3Ut1Sr9Qp7On5Ml3Kj1Ih9Gf7Ed5"
    server.script("POST", "/api/v3/repos/o/r/issues/3/comments", Reply(201, {"id": 1}))
    make_client().comment_issue("o/r", 3, f"CI log: export GITHUB_TOKEN={token}")
    (request,) = server.seen("POST", "/api/v3/repos/o/r/issues/3/comments")
    sent = request.body["body"]
    assert token not in sent and "REDACTED" in sent
