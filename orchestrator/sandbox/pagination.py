"""GitHub-style pagination: `per_page` (default 30, at most 100), `page`, and a `Link` header."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar
from urllib.parse import urlencode

from orchestrator.sandbox.routing import ApiError, Request, Response

T = TypeVar("T")


def page_window(request: Request) -> tuple[int, int]:
    """(page, per_page) from the query string."""
    try:
        per_page = min(100, max(1, int(request.query.get("per_page", "30"))))
        page = max(1, int(request.query.get("page", "1")))
    except ValueError as exc:
        raise ApiError(422, "Invalid pagination parameters") from exc
    return page, per_page


def paginate(request: Request, api_url: str, items: Sequence[T]) -> tuple[list[T], dict[str, str]]:
    """The requested page of `items` and the headers (Link) that point at the other pages."""
    page, per_page = page_window(request)
    last = max(1, -(-len(items) // per_page))
    chunk = list(items[(page - 1) * per_page : page * per_page])
    links = []

    def link(target: int, rel: str) -> str:
        query = dict(request.query)
        query["page"] = str(target)
        query["per_page"] = str(per_page)
        return f'<{api_url}{request.path}?{urlencode(query)}>; rel="{rel}"'

    if page > 1:
        links.append(link(page - 1, "prev"))
    if page < last:
        links.append(link(page + 1, "next"))
        links.append(link(last, "last"))
    if page > 1:
        links.append(link(1, "first"))
    return chunk, ({"Link": ", ".join(links)} if links else {})


def paged_response(request: Request, api_url: str, items: Sequence[object]) -> Response:
    chunk, headers = paginate(request, api_url, items)
    return Response(200, chunk, headers)
