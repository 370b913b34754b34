"""Text that did not come from Agent OS, made safe to show an agent or to post on GitHub (pure; stdlib only).

`sanitize_untrusted` strips HTML comments and invisible / bidi / control characters and bounds the size;
`data_block` fences text between DATA markers whose nonce is a hash of the content (so the content cannot
close its own block); `neutralize_references` puts closing keywords (`Closes #12`, `Fixes o/r#3`, `Resolves
https://github.com/o/r/issues/4`) and @mentions in code spans so agent-written text cannot close issues or
ping people; `code_block` fences text so it cannot add
markdown sections of its own; `title_text` makes an issue title safe as a PR title (one line, neutralized).
The prompt templates (orchestrator.executors.prompt) and the policies use these.
"""

from __future__ import annotations

import hashlib
import re

AGENT_TEXT_MAX_BYTES = 8 * 1024

# Zero-width, invisible and bidirectional-control characters, soft hyphen, BOM and the tag block.
_INVISIBLE_RE = re.compile(
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\U000e0000-\U000e007f]"
)
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_HTML_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_CLOSING_REF_RE = re.compile(
    r"\b((?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b\s*:?\s*)"
    r"((?:[\w.-]+/[\w.-]+)?#\d+|https?://[^\s/]+/[\w.-]+/[\w.-]+/(?:issues|pull)/\d+)",
    re.IGNORECASE,
)
_MENTION_RE = re.compile(r"(?<![\w`/@])@([A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9_.-]+)?)")


def sanitize_untrusted(text: str, max_bytes: int) -> str:
    """Strip HTML comments, invisible / bidi / control characters; truncate to max_bytes (UTF-8) with a note."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", _INVISIBLE_RE.sub("", text))
    text = _HTML_COMMENT_RE.sub("", text)  # after removing invisibles, so `<!\u200b--` cannot dodge it
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    kept = encoded[: max(max_bytes, 0)].decode("utf-8", errors="ignore")
    omitted = len(encoded) - len(kept.encode("utf-8"))
    return f"{kept}\n\n[truncated: {omitted} bytes omitted]"


def neutralize_references(text: str) -> str:
    """Put `Closes #12`-style references and @mentions in code spans (agent text posted to GitHub)."""
    text = _CLOSING_REF_RE.sub(lambda m: f"{m.group(1)}`{m.group(2)}`", text)
    return _MENTION_RE.sub(lambda m: f"`@{m.group(1)}`", text)


def data_block(text: str, label: str) -> str:
    """`text` between DATA markers; the nonce is derived from the content, so it cannot forge the end."""
    nonce = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"<<<DATA {label} {nonce}>>>\n{text}\n<<<END DATA {nonce}>>>"


def code_block(text: str, info: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run inside `text`. An HTML comment opener
    inside gets an invisible word joiner (`<!\u2060--`): it still reads as `<!--`, but the raw text (which our
    jobs search for their `<!-- agent-os… -->` markers) can hold no marker of ours."""
    text = text.replace("<!--", "<!\u2060--")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def agent_text(text: str, max_bytes: int = AGENT_TEXT_MAX_BYTES) -> str:
    """An agent's words made safe to post on GitHub."""
    return neutralize_references(sanitize_untrusted(text, max_bytes)).strip()


TITLE_MAX_CHARS = 256


def title_text(text: str) -> str:
    """Untrusted text (an issue's title) made safe as the title of something we publish: a PR title becomes
    the squash merge's commit title, where `fixes #2` closes issue #2. Sanitized, on one line, references
    neutralized, at most TITLE_MAX_CHARS characters."""
    one_line = " ".join(sanitize_untrusted(text, 4 * TITLE_MAX_CHARS).split())
    return neutralize_references(one_line)[:TITLE_MAX_CHARS]


# What a terminal acts on: C0 controls but newline and tab, DEL, C1 controls (`\x9b` is a CSI on its own), and
# the bidi overrides and isolates that reorder what is shown.
_TERMINAL_ACTIVE_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """`text` to print on an operator's terminal: every character a terminal would act on (escape sequences
    that clear lines, set the title or write the clipboard; bidi overrides) shown as its escape (`\\x1b`)."""
    return _TERMINAL_ACTIVE_RE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)
