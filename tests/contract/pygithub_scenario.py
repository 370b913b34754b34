"""The common PyGithub 2.x operations, run in one story against a forge, each checked by its outcome.

Used twice: against `sandbox serve --tls` over HTTPS (tests/contract/test_pygithub_https.py) and through the
prism proxy with GitHub's OpenAPI description (tests/contract/test_pygithub_prism.py, 0 violations). A step
that stops working fails with the operation's name; `Story.done` lists what ran, so a test can check that
every operation was exercised.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from orchestrator.edges.process import run

OPERATIONS = (
    "get_user",
    "get_user(login)",
    "create_repo(auto_init)",
    "get_repo",
    "get_user().get_repos",
    "get_branches",
    "get_branch",
    "repo.edit",
    "get_readme",
    "get_commits",
    "get_commit(files)",
    "compare",
    "get_contents",
    "create_file",
    "update_file",
    "delete_file",
    "create_label",
    "get_labels",
    "get_label",
    "label.edit",
    "label.delete",
    "create_milestone",
    "get_milestones",
    "create_issue(assignees, milestone, labels)",
    "get_issues(filters)",
    "get_issue",
    "issue.edit",
    "issue.create_comment",
    "issue.get_comments",
    "get_issue_comment",
    "comment.edit",
    "comment.delete",
    "issue.add_to_labels",
    "issue.remove_from_labels",
    "issue.add_to_assignees",
    "issue.remove_from_assignees",
    "issue.get_events",
    "get_issues_events",
    "search_issues",
    "create_git_ref",
    "get_git_ref",
    "ref.delete",
    "create_pull",
    "get_pulls",
    "get_pull",
    "pull.get_files",
    "pull.get_commits",
    "pull.create_review",
    "pull.get_reviews",
    "pull.get_review_comments",
    "pull.get_review_requests",
    "commit.create_status",
    "commit.get_statuses",
    "commit.get_combined_status",
    "commit.get_check_runs",
    "pull.convert_to_draft",
    "pull.mark_ready_for_review",
    "pull.enable_automerge",
    "pull.merge",
    "pull.is_merged",
    "get_rate_limit",
)


@dataclass
class Story:
    """What a scenario needs from its surroundings."""

    gh: Any  # github.Github as the repository owner
    reviewer: Any  # github.Github as another user
    reviewer_login: str
    git_env: dict[str, str]  # git over HTTP(S) with the owner's token (SandboxForge.git_env)
    set_ci: Callable[[str, str], None]  # (owner/name, command)
    wait_ci: Callable[[], None]
    work: Path
    # Through prism, PyGithub habits GitHub accepts but its OpenAPI description does not are replaced by the
    # described forms of the same requests: add_to_labels posts a bare JSON array (the description wants
    # {"labels": [...]}), a ref's path keeps its slashes (the description's {ref} is one segment), and
    # get_statuses reads the legacy GET statuses/{sha} (described: commits/{ref}/statuses).
    described_forms: bool = False
    done: list[str] = field(default_factory=list)

    def step(self, name: str) -> None:
        assert name in OPERATIONS, name
        self.done.append(name)

    def git(self, *args: str) -> str:
        result = run(["git", "-C", str(self.work), *args], env={**os.environ, **self.git_env}, timeout=60)
        assert result.ok, f"git {' '.join(args)}: {result.stderr}"
        return result.stdout.strip()


def run_story(story: Story) -> None:
    repo = _repository(story)
    issue = _issues(story, repo)
    _pulls(story, repo, issue)
    story.step("get_rate_limit")
    assert story.gh.get_rate_limit().resources.core.limit == 5000


def _repository(story: Story) -> Any:
    gh = story.gh
    me = gh.get_user()
    story.step("get_user")
    public = gh.get_user(me.login)
    story.step("get_user(login)")
    assert public.login == me.login and public.public_repos >= 0 and public.created_at is not None
    repo = me.create_repo(f"story-{uuid.uuid4().hex[:8]}", auto_init=True, description="a story")
    story.step("create_repo(auto_init)")
    assert gh.get_repo(repo.full_name).default_branch == "main"
    story.step("get_repo")
    assert repo.full_name in [r.full_name for r in me.get_repos()]
    story.step("get_user().get_repos")
    assert [b.name for b in repo.get_branches()] == ["main"]
    story.step("get_branches")
    main_sha = repo.get_branch("main").commit.sha
    story.step("get_branch")
    repo.edit(description="a story, edited")
    story.step("repo.edit")
    assert story.gh.get_repo(repo.full_name).description == "a story, edited"
    assert repo.get_readme().path == "README.md"
    story.step("get_readme")
    _files(story, repo, main_sha)
    return repo


def _files(story: Story, repo: Any, first_sha: str) -> None:
    readme = repo.get_contents("README.md")
    story.step("get_contents")
    assert readme.decoded_content.startswith(b"# story-")
    created = repo.create_file("notes.txt", "add a", "one\n", branch="main")
    story.step("create_file")
    updated = repo.update_file("notes.txt", "change a", "two\n", created["content"].sha, branch="main")
    story.step("update_file")
    assert repo.get_contents("notes.txt").decoded_content == b"two\n"
    repo.delete_file("notes.txt", "drop a", updated["content"].sha, branch="main")
    story.step("delete_file")
    shas = [c.sha for c in repo.get_commits()]
    story.step("get_commits")
    assert len(shas) == 4 and shas[-1] == first_sha
    change = repo.get_commit(shas[1])
    story.step("get_commit(files)")
    assert [(f.filename, f.status) for f in change.files] == [("notes.txt", "modified")]
    comparison = repo.compare(first_sha, shas[0])
    story.step("compare")
    assert comparison.ahead_by == 3 and comparison.status == "ahead"


def _issues(story: Story, repo: Any) -> Any:
    gh_user = story.gh.get_user().login
    repo.create_label("ready", "0e8a16", "ready for an agent")
    story.step("create_label")
    repo.create_label("stale", "cccccc")
    assert {label.name for label in repo.get_labels()} >= {"ready", "stale"}
    story.step("get_labels")
    stale = repo.get_label("stale")
    story.step("get_label")
    stale.edit("old", "dddddd", "renamed")
    story.step("label.edit")
    assert repo.get_label("old").color == "dddddd"
    repo.get_label("old").delete()
    story.step("label.delete")
    milestone = repo.create_milestone("v1")
    story.step("create_milestone")
    assert [m.title for m in repo.get_milestones()] == ["v1"]
    story.step("get_milestones")
    issue = repo.create_issue(
        "First", body="Do it", assignees=[gh_user], milestone=milestone, labels=["ready"]
    )
    story.step("create_issue(assignees, milestone, labels)")
    other = repo.create_issue("Second", body="later")
    assert [i.number for i in repo.get_issues(assignee=gh_user)] == [issue.number]
    assert [i.number for i in repo.get_issues(milestone=milestone)] == [issue.number]
    assert [i.number for i in repo.get_issues(assignee="none")] == [other.number]
    assert {i.number for i in repo.get_issues(creator=gh_user)} == {issue.number, other.number}
    story.step("get_issues(filters)")
    assert repo.get_issue(issue.number).milestone.title == "v1"
    story.step("get_issue")
    other.edit(title="Second, renamed", state="closed")
    story.step("issue.edit")
    _comments(story, repo, issue)
    _labels_assignees_events(story, repo, issue, other)
    return issue


def _comments(story: Story, repo: Any, issue: Any) -> None:
    comment = issue.create_comment("a first comment")
    story.step("issue.create_comment")
    assert [c.body for c in issue.get_comments()] == ["a first comment"]
    story.step("issue.get_comments")
    fetched = repo.get_issue(issue.number).get_comment(comment.id)
    story.step("get_issue_comment")
    fetched.edit("an edited comment")
    story.step("comment.edit")
    assert repo.get_issue(issue.number).get_comment(comment.id).body == "an edited comment"
    fetched.delete()
    story.step("comment.delete")
    assert list(issue.get_comments()) == []


def _labels_assignees_events(story: Story, repo: Any, issue: Any, other: Any) -> None:
    if story.described_forms:
        story.gh.requester.requestJsonAndCheck("POST", f"{issue.url}/labels", input={"labels": ["bug"]})
    else:
        issue.add_to_labels("bug")
    story.step("issue.add_to_labels")
    issue.remove_from_labels("bug")
    story.step("issue.remove_from_labels")
    issue.add_to_assignees(story.reviewer_login)
    story.step("issue.add_to_assignees")
    issue.remove_from_assignees(story.reviewer_login)
    story.step("issue.remove_from_assignees")
    kinds = [event.event for event in issue.get_events()]
    story.step("issue.get_events")
    for kind in ("labeled", "unlabeled", "assigned", "unassigned", "milestoned"):
        assert kind in kinds, (kind, kinds)
    assert {e.event for e in other.get_events()} >= {"renamed", "closed"}
    everything = [(e.event, e.issue.number) for e in repo.get_issues_events()]
    story.step("get_issues_events")
    assert ("closed", other.number) in everything and ("labeled", issue.number) in everything
    found = story.gh.search_issues(f"repo:{repo.full_name} is:issue is:open label:ready")
    story.step("search_issues")
    assert [i.number for i in found] == [issue.number]


def _pulls(story: Story, repo: Any, issue: Any) -> None:
    main_sha = repo.get_branch("main").commit.sha
    ref = repo.create_git_ref("refs/heads/agent/claim", main_sha)
    story.step("create_git_ref")
    if story.described_forms:
        encoded = f"{repo.url}/git/ref/{quote('heads/agent/claim', safe='')}"
        _, data = story.gh.requester.requestJsonAndCheck("GET", encoded)
        assert data["object"]["sha"] == main_sha
        story.step("get_git_ref")
        story.gh.requester.requestJsonAndCheck("DELETE", encoded.replace("/git/ref/", "/git/refs/"))
    else:
        assert repo.get_git_ref("heads/agent/claim").object.sha == main_sha
        story.step("get_git_ref")
        ref.delete()
    story.step("ref.delete")
    story.set_ci(repo.full_name, "test -f ok.txt")
    story.git("clone", "-q", repo.clone_url, ".")
    story.git("checkout", "-q", "-b", "feature")
    (story.work / "feature.txt").write_text("feature\n")
    head = _commit_and_push(story, f"Add the feature (#{issue.number})")
    pull = repo.create_pull(
        title="Add the feature", body=f"Closes #{issue.number}", head="feature", base="main"
    )
    story.step("create_pull")
    assert [p.number for p in repo.get_pulls(state="open", head=f"{repo.owner.login}:feature")] == [
        pull.number
    ]
    story.step("get_pulls")
    assert repo.get_pull(pull.number).head.sha == head
    story.step("get_pull")
    assert [f.filename for f in pull.get_files()] == ["feature.txt"]
    story.step("pull.get_files")
    assert [c.sha for c in pull.get_commits()] == [head]
    story.step("pull.get_commits")
    _reviews_and_statuses(story, repo, pull, head)
    _draft_auto_merge(story, repo, pull, issue)


def _commit_and_push(story: Story, message: str, branch: str = "feature") -> str:
    story.git("add", "-A")
    story.git(
        "-c", "user.name=Story", "-c", "user.email=story@example.invalid", "commit", "-q", "-m", message
    )
    story.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    return story.git("rev-parse", "HEAD")


def _reviews_and_statuses(story: Story, repo: Any, pull: Any, head: str) -> None:
    as_reviewer = story.reviewer.get_repo(repo.full_name).get_pull(pull.number)
    as_reviewer.create_review(body="Looks right", event="APPROVE")
    story.step("pull.create_review")
    assert [(r.user.login, r.state) for r in pull.get_reviews()] == [(story.reviewer_login, "APPROVED")]
    story.step("pull.get_reviews")
    assert list(pull.get_review_comments()) == []  # line comments cannot be made on the sandbox
    story.step("pull.get_review_comments")
    users, teams = pull.get_review_requests()
    assert (list(users), list(teams)) == ([], [])
    story.step("pull.get_review_requests")
    commit = repo.get_commit(head)
    commit.create_status("success", "https://example.invalid/lint", "lint ok", "story/lint")
    story.step("commit.create_status")
    if story.described_forms:  # PyGithub reads the legacy GET statuses/{sha}, which the description lacks
        _, listed = story.gh.requester.requestJsonAndCheck("GET", f"{repo.url}/commits/{head}/statuses")
        assert [s["context"] for s in listed] == ["story/lint"]
    else:
        assert [s.context for s in commit.get_statuses()] == ["story/lint"]
    story.step("commit.get_statuses")
    story.wait_ci()
    combined = commit.get_combined_status()
    story.step("commit.get_combined_status")
    assert combined.state == "success" and combined.total_count == 1
    runs = list(commit.get_check_runs())
    story.step("commit.get_check_runs")
    assert [(r.name, r.conclusion) for r in runs] == [("sandbox-ci", "failure")]  # ok.txt is missing


def _draft_auto_merge(story: Story, repo: Any, pull: Any, issue: Any) -> None:
    pull.convert_to_draft()
    story.step("pull.convert_to_draft")
    assert repo.get_pull(pull.number).draft is True
    pull.mark_ready_for_review()
    story.step("pull.mark_ready_for_review")
    assert repo.get_pull(pull.number).draft is False
    pull.enable_automerge(merge_method="SQUASH")  # the check fails: auto-merge waits for it
    story.step("pull.enable_automerge")
    assert repo.get_pull(pull.number).raw_data["auto_merge"]["merge_method"] == "squash"
    (story.work / "ok.txt").write_text("ok\n")
    _commit_and_push(story, "Make the check pass")
    story.wait_ci()  # CI passes on the new head and auto-merge merges it
    merged = repo.get_pull(pull.number)
    assert merged.merged and merged.raw_data["auto_merge"] is None
    assert repo.get_issue(issue.number).state == "closed"
    second = _second_pull(story, repo)
    story.set_ci(repo.full_name, "true")
    status = second.merge(merge_method="squash", commit_title="Second (#2)")
    story.step("pull.merge")
    assert status.merged
    assert second.is_merged()
    story.step("pull.is_merged")


def _second_pull(story: Story, repo: Any) -> Any:
    story.git("fetch", "-q", "origin")
    story.git("checkout", "-q", "-B", "second", "origin/main")
    (story.work / "second.txt").write_text(base64.b64encode(b"second").decode() + "\n")
    _commit_and_push(story, "A second change", "second")
    return repo.create_pull(title="Second", body="", head="second", base="main")
