"""Which REST operations GitHub has, so the sandbox can tell "GitHub has this and the sandbox does not" from
"no such thing" — loud, not wrong.

A request no sandbox route serves is GitHub's 404 only when GitHub has no such operation either; when
GitHub's REST description lists it (`GET /repos/{owner}/{repo}/releases`, …), the sandbox answers 422 naming
the endpoint as "not supported by the sandbox forge" instead of a 404 a client would read as "that repository
or object does not exist".

The operations are `github_rest_operations.txt` next to this module: one `METHOD /path/{param}` a line, taken
from GitHub's published OpenAPI description (npm @octokit/openapi, pinned in tools/npm). Regenerate it with
`python -m orchestrator.sandbox.github_paths tools/npm/node_modules/@octokit/openapi/generated/api.github.com.json`;
tests/contract/test_github_paths.py checks it against the pinned description.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path

from orchestrator.sandbox.routing import literal_segments

OPERATIONS_FILE = Path(__file__).with_name("github_rest_operations.txt")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PARAM = re.compile(r"(\{[^}/]+\})")
_SPANNING = ("{ref}", "{path}", "{branch}", "{basehead}")  # may hold slashes: heads/main, docs/a.md, a/b


def operations_of(description: dict[str, object]) -> list[str]:
    """`METHOD /path` of every operation of an OpenAPI description, sorted."""
    paths = description.get("paths")
    if not isinstance(paths, dict):
        raise ValueError("not an OpenAPI description: no `paths` object")
    found = {
        f"{method.upper()} {path}"
        for path, item in paths.items()
        if isinstance(item, dict)
        for method in item
        if method.upper() in METHODS
    }
    return sorted(found)


@functools.cache
def _patterns() -> dict[str, list[tuple[re.Pattern[str], str]]]:
    """method → (regex, template) of each of GitHub's operations."""
    table: dict[str, list[tuple[re.Pattern[str], str]]] = {}
    for line in OPERATIONS_FILE.read_text(encoding="utf-8").splitlines():
        method, _, template = line.partition(" ")
        if not template.startswith("/"):
            continue
        parts = [
            (".+" if part in _SPANNING else "[^/]+") if _PARAM.fullmatch(part) else re.escape(part)
            for part in _PARAM.split(template)
        ]
        table.setdefault(method, []).append((re.compile("^" + "".join(parts) + "/?$"), template))
    return table


def github_operation(method: str, path: str) -> str | None:
    """GitHub's template of the operation `method path` (below /api/v3) is an instance of; None if none.
    Of several, the most literal one (`issues/events` before `issues/{issue_number}`, `commits/{ref}/status`
    before `commits/{ref}`)."""
    found = [t for p, t in _patterns().get("GET" if method == "HEAD" else method, []) if p.match(path)]
    return max(found, key=lambda t: (literal_segments(t), -t.count("{")), default=None)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    description = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    OPERATIONS_FILE.write_text("\n".join(operations_of(description)) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
