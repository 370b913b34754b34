"""Near-duplicate detection for issues the loops file. Pure: text in, verdict out.

Two issues are the same when

1. they carry the same dedup key (the `<!-- agentos-loop ... key=... -->` marker a loop writes), or
2. their normalized titles are equal (case, punctuation and spacing ignored), or
3. the similarity of their title + body word sequences is at least `threshold` — unless both carry a dedup
   key and the keys differ: bot-generated bodies share their template, so two drafts of the same loop about
   different subjects (different keys) would otherwise look alike.

Similarity is difflib's ratio over word tokens (order-aware, 0.0 … 1.0); the marker comment is ignored and
only the first `MAX_TOKENS` words count, so comparing against a long backlog stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

DEFAULT_THRESHOLD = 0.8
MAX_TOKENS = 300
MARKER_RE = re.compile(r"<!--\s*agentos-loop\b(?P<attrs>[^>]*?)-->")
_KEY_RE = re.compile(r"\bkey=(?P<key>\S+)")
_JOB_RE = re.compile(r"\bjob=(?P<job>[\w-]+)")
_WORD_RE = re.compile(r"[^\W_]+(?:[._-][^\W_]+)*")  # Unicode letters and digits


@dataclass(frozen=True)
class Candidate:
    """An issue (existing, or a draft) as far as duplicate detection needs it."""

    title: str
    body: str
    key: str = ""  # the dedup key, "" when none
    ref: str = ""  # how to name it in a report, e.g. "#12" or "draft"


@dataclass(frozen=True)
class Match:
    ref: str
    reason: str  # "same key", "same title" or "similar (0.87)"


def normalize_title(title: str) -> str:
    """Lower case, words only, single spaces: "Fix: Flaky  CI!" → "fix flaky ci"."""
    return " ".join(_WORD_RE.findall(title.lower()))


def marker_key(body: str) -> str:
    """The dedup key stored in a body's loop marker, or ""."""
    marker = MARKER_RE.search(body)
    if marker is None:
        return ""
    key = _KEY_RE.search(marker.group("attrs"))
    return key.group("key") if key else ""


def marker_job(body: str) -> str:
    """The job named in a body's loop marker (which loop filed it), or ""."""
    marker = MARKER_RE.search(body)
    job = _JOB_RE.search(marker.group("attrs")) if marker else None
    return job.group("job") if job else ""


def tokens(title: str, body: str) -> list[str]:
    text = f"{title}\n{MARKER_RE.sub(' ', body)}".lower()
    return _WORD_RE.findall(text)[:MAX_TOKENS]


def similarity(a: Candidate, b: Candidate) -> float:
    """How alike two issues' title + body word sequences are, 0.0 … 1.0."""
    left, right = tokens(a.title, a.body), tokens(b.title, b.body)
    if not left and not right:
        return 1.0
    matcher = SequenceMatcher(None, left, right, autojunk=False)
    return matcher.ratio()


def duplicate_of(
    draft: Candidate, existing: Iterable[Candidate], threshold: float = DEFAULT_THRESHOLD
) -> Match | None:
    """The first of `existing` that `draft` duplicates, with the reason; None when it is new."""
    title = normalize_title(draft.title)
    draft_tokens = tokens(draft.title, draft.body)
    for other in existing:
        if draft.key and draft.key == other.key:
            return Match(other.ref, "same key")
        if title and title == normalize_title(other.title):
            return Match(other.ref, "same title")
        if (draft.key and other.key) or not draft_tokens:
            continue
        matcher = SequenceMatcher(None, draft_tokens, tokens(other.title, other.body), autojunk=False)
        if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
            continue
        score = matcher.ratio()
        if score >= threshold:
            return Match(other.ref, f"similar ({score:.2f})")
    return None
