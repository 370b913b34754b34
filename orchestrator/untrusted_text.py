"""Text that did not come from Agent OS, made safe to show an agent or to post on GitHub (pure; stdlib only).

`sanitize_untrusted` strips HTML comments and invisible / bidi / control characters and bounds the size;
`data_block` fences text between DATA markers whose nonce is a hash of the content (so the content cannot
close its own block); `neutralize_references` puts closing keywords (`Closes #12`) and @mentions in code
spans so agent-written text cannot close issues or ping people; `code_block` fences text so it cannot add
markdown sections of its own. The prompt templates (orchestrator.prompt) and the policies use these.
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
    r"\b((?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b\s*:?\s*)((?:[\w.-]+/[\w.-]+)?#\d+)", re.IGNORECASE
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
    """A fenced code block whose fence is longer than any backtick run inside `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def agent_text(text: str, max_bytes: int = AGENT_TEXT_MAX_BYTES) -> str:
    """An agent's words made safe to post on GitHub."""
    return neutralize_references(sanitize_untrusted(text, max_bytes)).strip()
