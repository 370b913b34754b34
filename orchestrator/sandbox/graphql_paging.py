"""GraphQL connections over a list, as GitHub pages them: first/after, last/before, opaque cursors.

`connection(items, first=…, after=…)` → {"nodes", "edges", "pageInfo", "totalCount"}. A cursor is the
base64 of `cursor:v2:<index>` (GitHub's own cursors are opaque too); a cursor that is not one of ours is
GitHub's error "`X` does not appear to be a valid cursor."
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from orchestrator.sandbox.projects_store import ProjectsValidationError

_PREFIX = "cursor:v2:"


def cursor(index: int) -> str:
    return base64.b64encode(f"{_PREFIX}{index}".encode()).decode()


def _index(value: str) -> int:
    try:
        text = base64.b64decode(value.encode(), validate=True).decode()
        if text.startswith(_PREFIX):
            return int(text[len(_PREFIX) :])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ProjectsValidationError(f"`{value}` does not appear to be a valid cursor.")


def connection(
    items: Sequence[Any],
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    """The page of `items` the arguments select (GitHub's Relay-style pagination), with every cursor."""
    start, end = 0, len(items)
    if after is not None:
        start = min(end, _index(after) + 1)
    if before is not None:
        end = max(start, min(end, _index(before)))
    if first is not None:
        end = min(end, start + max(0, first))
    if last is not None:
        start = max(start, end - max(0, last))
    page = list(items[start:end])
    edges = [{"cursor": cursor(start + offset), "node": node} for offset, node in enumerate(page)]
    return {
        "nodes": page,
        "edges": edges,
        "totalCount": len(items),
        "pageInfo": {
            "hasNextPage": end < len(items),
            "hasPreviousPage": start > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }
