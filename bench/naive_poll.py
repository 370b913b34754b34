"""The naive baseline poll (g): what a dispatcher tick costs written the obvious way with PyGithub.

Per repo and tick: labels mode lists the open `ready` issues through a PyGithub paginated list (PyGithub never
sends If-None-Match, so every page counts against the rate limit); project mode looks the board up and reads
every item page (GraphQL has no conditional requests, and the naive poll keeps no updatedAt). Nothing is
persisted between ticks. `python -m bench.naive_poll CONFIG` runs one tick in a fresh process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml

from orchestrator.github import queries
from orchestrator.sandbox.client_config import TOKEN_ENV


def client(api_url: str, token: str) -> Any:
    from github import Auth, Github

    return Github(
        base_url=api_url,
        auth=Auth.Token(token),
        seconds_between_requests=0,
        seconds_between_writes=0,
        per_page=100,
    )


def poll_repo(gh: Any, repo: dict[str, Any]) -> int:
    """One repo's share of a naive idle tick; returns how many issues or board items it read."""
    full_name = f"{repo['owner']}/{repo['name']}"
    if repo["board"]["mode"] == "labels":
        return len(list(gh.get_repo(full_name, lazy=True).get_issues(state="open", labels=["ready"])))
    variables = {"owner": repo["owner"], "number": repo["board"]["project_number"], "field": "Status"}
    _, board = gh.requester.graphql_query(queries.BOARD, variables)
    project_id = board["data"]["repositoryOwner"]["projectV2"]["id"]
    return read_board(gh, project_id)


def read_board(gh: Any, project_id: str) -> int:
    """Every item page of a board through PyGithub's GraphQL requester; returns the item count."""
    after: str | None = None
    count = 0
    while True:
        variables = {"id": project_id, "field": "Status", "after": after}
        _, data = gh.requester.graphql_query(queries.BOARD_ITEMS, variables)
        items = data["data"]["node"]["items"]
        count += len(items["nodes"])
        if not items["pageInfo"]["hasNextPage"]:
            return count
        after = items["pageInfo"]["endCursor"]


def main(argv: list[str]) -> int:
    config = yaml.safe_load(Path(argv[0]).read_text())
    gh = client(config["github"]["api_url"], os.environ[TOKEN_ENV])
    for repo in config["repos"]:
        poll_repo(gh, repo)
    gh.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
