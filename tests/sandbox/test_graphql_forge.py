"""GraphQL over issues and pull requests, as gh and PyGithub use it, against a running sandbox forge.

Proves: Repository.issues honours states, labels (any of them) and every IssueFilters field it accepts
(assignee, createdBy, mentioned, milestone by database id, milestoneNumber, since), refusing
viewerSubscribed by name; pullRequests filters by head and base branch and orders; pages carry working
cursors; search(type: ISSUE) uses the issue search syntax; mutations go through the REST rules (an unknown
node is NOT_FOUND, a REST refusal keeps its message, an unimplemented input field is named); a private
repository is NOT_FOUND to an outsider.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from orchestrator.sandbox.server import SandboxForge

REPO = "/repos/agentos-admin/app"
ISSUES = """query($filter: IssueFilters, $labels: [String!], $after: String) {
  repository(owner: "agentos-admin", name: "app") {
    issues(first: 2, after: $after, filterBy: $filter, labels: $labels, orderBy: {field: CREATED_AT, direction: ASC}) {
      totalCount nodes { number } pageInfo { hasNextPage endCursor }
    }
  }
}"""


class Client:
    def __init__(self, forge: SandboxForge, token: str) -> None:
        self.forge = forge
        self.headers = {"Authorization": f"token {token}"}

    def rest(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = requests.request(
            method, self.forge.api_url + path, headers=self.headers, timeout=30, **kwargs
        )
        assert answer.ok, answer.text
        return answer.json() if answer.content else None

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        body = {"query": query, "variables": variables}
        answer = requests.post(self.forge.graphql_url, json=body, headers=self.headers, timeout=30)
        assert answer.status_code == 200
        result: dict[str, Any] = answer.json()
        return result

    def numbers(self, **variables: Any) -> list[int]:
        data = self.graphql(ISSUES, **variables)
        assert "errors" not in data, data
        return [n["number"] for n in data["data"]["repository"]["issues"]["nodes"]]


@pytest.fixture
def client(forge: SandboxForge) -> Client:
    admin = Client(forge, forge.token)
    admin.rest("POST", "/user/repos", json={"name": "app", "auto_init": True})
    return admin


def test_issue_filters_and_pages(forge: SandboxForge, client: Client) -> None:
    assert forge.create_user("octo") is not None
    milestone = client.rest("POST", f"{REPO}/milestones", json={"title": "v1"})
    client.rest("POST", f"{REPO}/issues", json={"title": "a", "assignees": ["octo"], "labels": ["x"]})
    client.rest("POST", f"{REPO}/issues", json={"title": "b", "body": "ping @octo", "labels": ["y"]})
    client.rest("POST", f"{REPO}/issues", json={"title": "c", "milestone": milestone["number"]})
    assert client.numbers(filter={"assignee": "octo"}) == [1]
    assert client.numbers(filter={"createdBy": "agentos-admin"}) == [1, 2]  # first: 2
    assert client.numbers(filter={"mentioned": "octo"}) == [2]
    assert client.numbers(filter={"milestoneNumber": str(milestone["number"])}) == [3]
    assert client.numbers(filter={"milestone": str(milestone["id"])}) == [3]
    assert client.numbers(filter={"milestoneNumber": "none"}) == [1, 2]
    assert client.numbers(labels=["x", "y"]) == [1, 2]  # GraphQL `labels`: any of them
    page = client.graphql(ISSUES)["data"]["repository"]["issues"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"]
    assert client.numbers(after=page["pageInfo"]["endCursor"]) == [3]
    refused = client.graphql(ISSUES, filter={"viewerSubscribed": True})
    assert "viewerSubscribed" in refused["errors"][0]["message"]
    assert "not supported by the sandbox forge" in refused["errors"][0]["message"]


def test_pull_requests_search_and_mutations(forge: SandboxForge, client: Client) -> None:
    main = client.rest("GET", f"{REPO}/branches/main")["commit"]["sha"]
    for branch in ("one", "two"):
        client.rest("POST", f"{REPO}/git/refs", json={"ref": f"refs/heads/{branch}", "sha": main})
        content = {"message": branch, "content": "eA==", "branch": branch}
        client.rest("PUT", f"{REPO}/contents/{branch}.txt", json=content)
        client.rest("POST", f"{REPO}/pulls", json={"title": branch, "head": branch, "base": "main"})
    pulls = client.graphql(
        '{ repository(owner: "agentos-admin", name: "app") { pullRequests(first: 5, headRefName: "two", '
        "states: OPEN) { nodes { number title headRefName isDraft mergeable } } } }"
    )
    assert pulls["data"]["repository"]["pullRequests"]["nodes"] == [
        {"number": 2, "title": "two", "headRefName": "two", "isDraft": False, "mergeable": "MERGEABLE"}
    ]
    found = client.graphql(
        '{ search(query: "repo:agentos-admin/app is:pr head:one", type: ISSUE, first: 5) '
        "{ issueCount nodes { ... on PullRequest { number } } } }"
    )
    assert found["data"]["search"] == {"issueCount": 1, "nodes": [{"number": 1}]}
    missing = client.graphql(
        'mutation { closePullRequest(input: {pullRequestId: "PR_nope"}) { clientMutationId } }'
    )
    assert missing["errors"][0]["type"] == "NOT_FOUND"
    pull_id = client.rest("GET", f"{REPO}/pulls/1")["node_id"]
    merged = client.graphql(
        "mutation($id: ID!) { mergePullRequest(input: {pullRequestId: $id, mergeMethod: SQUASH}) "
        "{ pullRequest { state merged mergeCommit { oid } } } }",
        id=pull_id,
    )
    assert merged["data"]["mergePullRequest"]["pullRequest"]["state"] == "MERGED"
    again = client.graphql(
        "mutation($id: ID!) { mergePullRequest(input: {pullRequestId: $id}) { clientMutationId } }",
        id=pull_id,
    )
    assert again["errors"][0]["type"] == "UNPROCESSABLE" and "not mergeable" in again["errors"][0]["message"]
    other = client.rest("GET", f"{REPO}/pulls/2")["node_id"]
    email = client.graphql(
        'mutation($id: ID!) { mergePullRequest(input: {pullRequestId: $id, authorEmail: "a@b"}) { clientMutationId } }',
        id=other,
    )
    assert "authorEmail" in email["errors"][0]["message"]


def test_a_private_repository_is_not_found_to_an_outsider(forge: SandboxForge, client: Client) -> None:
    client.rest("POST", "/user/repos", json={"name": "secret", "private": True})
    outsider = Client(forge, str(forge.create_user("outsider")))
    answer = outsider.graphql('{ repository(owner: "agentos-admin", name: "secret") { name } }')
    assert answer["errors"][0]["type"] == "NOT_FOUND" and answer["data"] == {"repository": None}
    assert client.graphql('{ repository(owner: "agentos-admin", name: "secret") { name } }')["data"] == {
        "repository": {"name": "secret"}
    }


LINKS = """query($number: Int!) {
  repository(owner: "agentos-admin", name: "app") {
    pullRequest(number: $number) {
      baseRef { name target { oid } branchProtectionRule { requiresStrictStatusChecks } }
      headRef { name }
      projectItems(first: 10) { totalCount nodes { project { title } } }
    }
    pullRequests(first: 5) { edges { cursor node { number } } }
  }
}"""


def test_refs_project_items_edges_and_searches_for_me(forge: SandboxForge, client: Client) -> None:
    """What gh pr status / gh pr edit read: a PR's base and head refs (null once the branch is gone), the
    base's protection rule (null: unprotected), the board items holding it, `edges` on every list; and the
    search's `@me` (the searching user) and `review-requested:` (no review requests exist: nothing)."""
    main = client.rest("GET", f"{REPO}/branches/main")["commit"]["sha"]
    client.rest("POST", f"{REPO}/git/refs", json={"ref": "refs/heads/feat", "sha": main})
    client.rest("PUT", f"{REPO}/contents/f.txt", json={"message": "f", "content": "eA==", "branch": "feat"})
    pull = client.rest("POST", f"{REPO}/pulls", json={"title": "feat", "head": "feat", "base": "main"})
    board = requests.post(
        f"{forge.url}/_sandbox/boards",
        json={"owner": "agentos-admin", "title": "Board", "options": ["Todo"]},
        headers=client.headers,
        timeout=30,
    ).json()
    added = client.graphql(
        "mutation($p: ID!, $c: ID!) { addProjectV2ItemById(input: {projectId: $p, contentId: $c}) "
        "{ item { id } } }",
        p=board["project_id"],
        c=pull["node_id"],
    )
    assert "errors" not in added, added
    data = client.graphql(LINKS, number=pull["number"])
    assert "errors" not in data, data
    repo = data["data"]["repository"]
    head = client.rest("GET", f"{REPO}/branches/main")["commit"]["sha"]
    assert repo["pullRequest"] == {
        "baseRef": {"name": "main", "target": {"oid": head}, "branchProtectionRule": None},
        "headRef": {"name": "feat"},
        "projectItems": {"totalCount": 1, "nodes": [{"project": {"title": "Board"}}]},
    }
    assert [e["node"]["number"] for e in repo["pullRequests"]["edges"]] == [pull["number"]]
    assert repo["pullRequests"]["edges"][0]["cursor"]
    client.rest("DELETE", f"{REPO}/git/refs/heads/feat")
    assert (
        client.graphql(LINKS, number=pull["number"])["data"]["repository"]["pullRequest"]["headRef"] is None
    )
    mine = client.rest("GET", "/search/issues", params={"q": "repo:agentos-admin/app is:pr author:@me"})
    assert [item["number"] for item in mine["items"]] == [pull["number"]]
    asked = client.rest("GET", "/search/issues", params={"q": "repo:agentos-admin/app review-requested:@me"})
    assert asked["total_count"] == 0


def test_sort_qualifier_and_a_missing_number(client: Client) -> None:
    """`sort:` in a search query orders as GitHub does (REST and GraphQL); an unknown sort is refused by name;
    issueOrPullRequest of a number that is neither is NOT_FOUND, not a silent null."""
    for title in ("old", "new"):
        client.rest("POST", f"{REPO}/issues", json={"title": title})
    client.rest("POST", f"{REPO}/issues/1/comments", json={"body": "one comment"})
    q = "repo:agentos-admin/app is:issue sort:comments-desc"
    rest = client.rest("GET", "/search/issues", params={"q": q})
    assert [item["number"] for item in rest["items"]] == [1, 2]
    ascending = client.rest("GET", "/search/issues", params={"q": q.replace("desc", "asc")})
    assert [item["number"] for item in ascending["items"]] == [2, 1]
    oldest = client.rest("GET", "/search/issues", params={"q": "repo:agentos-admin/app sort:created-asc"})
    assert [item["number"] for item in oldest["items"]] == [1, 2]
    found = client.graphql(
        "query($q: String!) { search(query: $q, type: ISSUE, first: 5) { nodes { ... on Issue { number } } } }",
        q="repo:agentos-admin/app sort:comments-desc",
    )
    assert found["data"]["search"]["nodes"] == [{"number": 1}, {"number": 2}]
    refused = client.graphql('{ search(query: "sort:reactions", type: ISSUE, first: 1) { issueCount } }')
    assert "sort:reactions is not supported by the sandbox forge" in refused["errors"][0]["message"]
    missing = client.graphql(
        '{ repository(owner: "agentos-admin", name: "app") { issueOrPullRequest(number: 9) { __typename } } }'
    )
    assert missing["errors"][0]["type"] == "NOT_FOUND" and "number of 9" in missing["errors"][0]["message"]


OWNED = """query($login: String!, $privacy: RepositoryPrivacy, $affiliations: [RepositoryAffiliation]) {
  repositoryOwner(login: $login) {
    repositories(first: 10, privacy: $privacy, ownerAffiliations: $affiliations, orderBy: {field: NAME, direction: ASC}) {
      totalCount nodes { nameWithOwner isPrivate }
    }
  }
}"""


def test_an_owners_repositories(forge: SandboxForge, client: Client) -> None:
    """What gh repo list reads: the owner's repositories the viewer can see, by privacy and affiliation."""
    client.rest("POST", "/user/repos", json={"name": "secret", "private": True})
    octo = Client(forge, str(forge.create_user("octo")))
    octo.rest("POST", "/user/repos", json={"name": "mine"})
    octo.rest("PUT", "/repos/octo/mine/collaborators/agentos-admin", json={"permission": "push"})

    def names(who: Client, **variables: Any) -> list[str]:
        data = who.graphql(OWNED, **variables)
        assert "errors" not in data, data
        return [r["nameWithOwner"] for r in data["data"]["repositoryOwner"]["repositories"]["nodes"]]

    admin = "agentos-admin"
    assert names(client, login=admin) == ["agentos-admin/app", "octo/mine", "agentos-admin/secret"]  # by name
    assert names(client, login=admin, affiliations=["OWNER"]) == ["agentos-admin/app", "agentos-admin/secret"]
    assert names(client, login=admin, privacy="PRIVATE") == ["agentos-admin/secret"]
    assert names(octo, login=admin, affiliations=["OWNER"]) == ["agentos-admin/app"]  # not the private one
    refused = client.graphql(OWNED, login=admin, affiliations=["ORGANIZATION_MEMBER"])
    assert "not supported by the sandbox forge" in refused["errors"][0]["message"]


ROLLUP = """query($number: Int!) {
  repository(owner: "agentos-admin", name: "app") {
    pullRequest(number: $number) {
      baseRef { branchProtectionRule { requiresStrictStatusChecks requiredStatusCheckContexts } }
      commits(last: 1) { nodes { commit { statusCheckRollup { contexts(first: 10) { nodes {
        __typename
        ... on StatusContext { context isRequired(pullRequestNumber: $number) }
        ... on CheckRun { name isRequired(pullRequestNumber: $number) }
      } } } } } }
    }
  }
}"""


def test_required_checks_follow_the_base_branchs_protection(forge: SandboxForge, client: Client) -> None:
    """isRequired (gh pr checks --required) and the base's protection rule come from the sandbox's branch
    protection: nothing is required on an unprotected base; a check the protection names is."""
    main = client.rest("GET", f"{REPO}/branches/main")["commit"]["sha"]
    client.rest("POST", f"{REPO}/git/refs", json={"ref": "refs/heads/f", "sha": main})
    client.rest("PUT", f"{REPO}/contents/f.txt", json={"message": "f", "content": "eA==", "branch": "f"})
    pull = client.rest("POST", f"{REPO}/pulls", json={"title": "f", "head": "f", "base": "main"})
    head = pull["head"]["sha"]
    client.rest("POST", f"{REPO}/statuses/{head}", json={"state": "success", "context": "ci"})
    client.rest("POST", f"{REPO}/check-runs", json={"name": "lint", "head_sha": head, "status": "completed",
                                                    "conclusion": "success"})  # fmt: skip

    def required() -> tuple[Any, dict[str, bool]]:
        data = client.graphql(ROLLUP, number=pull["number"])
        assert "errors" not in data, data
        found = data["data"]["repository"]["pullRequest"]
        nodes = found["commits"]["nodes"][0]["commit"]["statusCheckRollup"]["contexts"]["nodes"]
        return found["baseRef"]["branchProtectionRule"], {
            n.get("context") or n["name"]: n["isRequired"] for n in nodes
        }

    assert required() == (None, {"ci": False, "lint": False})
    neither = client.graphql(ROLLUP.replace("isRequired(pullRequestNumber: $number)", "isRequired"), number=1)
    assert "Either pullRequestId or pullRequestNumber" in neither["errors"][0]["message"]
    protect = {
        "required_status_checks": {"strict": True, "contexts": ["ci"]},
        "enforce_admins": None,
        "required_pull_request_reviews": None,
        "restrictions": None,
    }
    answer = requests.put(
        f"{forge.api_url}{REPO}/branches/main/protection", json=protect, headers=client.headers, timeout=30
    )
    if answer.status_code == 422 and "not supported by the sandbox forge" in answer.text:
        pytest.skip(
            "this build of the sandbox has no branch protection routes (sandbox/routes_protection.py)"
        )
    assert answer.ok, answer.text
    rule = {"requiresStrictStatusChecks": True, "requiredStatusCheckContexts": ["ci"]}
    assert required() == (rule, {"ci": True, "lint": False})
