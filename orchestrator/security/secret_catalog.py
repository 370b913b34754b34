"""The one catalog of secret shapes, shared by the commit/push guard, the redactor and the config loader.

Standard library only: the pre-commit hook imports it with nothing but this checkout on `sys.path`.

Each `Shape` is one kind of credential with three uses:

- **guard** (`pattern` + `plausible`): what the commit and push guard refuses. The plausibility check drops
  obvious placeholders (`ghp_XXXX…`, AWS's documented `…EXAMPLE` key, `xoxb-your-token`) so documentation and
  tests that talk *about* tokens pass while a real token never does. Shapes with `guard=False` (a password
  in a URL) are not refused in code, where `postgres://user:pass@localhost` fixtures are common.
- **redact** (`pattern`, every shape, no plausibility check): what the redactor hides in text we publish.
- **strict** (`strict`, no plausibility check, looser lengths): what the config loader refuses — a
  configuration file has no business holding anything token-shaped, placeholder or not.

The secret itself is always the named group `value`; `fingerprint(value)` (sha256) identifies one secret in
an operator's allow-list without revealing it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

_PLACEHOLDER_WORDS = ("example", "xxxxx", "your", "dummy", "placeholder", "redacted", "changeme")


def _not_placeholder(value: str) -> bool:
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        return False
    return len(set(value)) >= min(10, len(value) // 2) and not re.search(r"(.)\1{5}", value)


def _mixed_random(value: str) -> bool:
    """For the weak shapes (no distinctive prefix): the value must look machine-generated."""
    has_classes = (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
    )
    return has_classes and _not_placeholder(value)


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value) and _not_placeholder(value)


def _always(value: str) -> bool:
    return True


@dataclass(frozen=True)
class Shape:
    """A credential kind. `pattern` and `strict` carry the secret in the group `value`."""

    kind: str  # e.g. "github-token": in findings, audit entries and `[REDACTED:<kind>]`
    label: str  # e.g. "a GitHub token": in configuration errors
    pattern: str  # guard and redaction
    plausible: Callable[[str], bool]
    strict: str = ""  # config (strict mode); "" = the same as pattern
    guard: bool = True  # False: redacted and refused in config, not refused in commits

    @property
    def strict_pattern(self) -> str:
        return self.strict or self.pattern


_B = r"(?<![A-Za-z0-9_-])"  # left boundary: not inside a longer token
_E = r"(?![A-Za-z0-9_-])"  # right boundary
_PEM = r"-----BEGIN[A-Z ]{0,30} PRIVATE KEY( BLOCK)?-----"

SHAPES: tuple[Shape, ...] = (
    Shape(
        "private-key",
        "a private key",
        rf"(?P<value>{_PEM}(?:[\s\S]{{0,16384}}?-----END[A-Z ]{{0,30}} PRIVATE KEY( BLOCK)?-----)?)",
        _always,
        strict=rf"(?P<value>{_PEM})",
    ),
    Shape(
        "github-fine-grained-token",
        "a GitHub token",
        _B + r"(?P<value>github_pat_[A-Za-z0-9_]{82,255})" + _E,
        _not_placeholder,
        strict=_B + r"(?P<value>github_pat_[A-Za-z0-9_]{20,255})",
    ),
    Shape(
        "github-token",
        "a GitHub token",
        _B + r"(?P<value>gh[pousr]_[A-Za-z0-9]{36,251})" + _E,
        _not_placeholder,
        strict=_B + r"(?P<value>gh[pousr]_[A-Za-z0-9]{20,251})",
    ),
    Shape(
        "anthropic-api-key",
        "an API key",
        _B + r"(?P<value>sk-ant-[A-Za-z0-9_-]{32,300})" + _E,
        _not_placeholder,
        strict=_B + r"(?P<value>sk-ant-[A-Za-z0-9_-]{16,300})",
    ),
    Shape(
        "openai-api-key",
        "an API key",
        _B + r"(?P<value>sk-(?!ant-)[A-Za-z0-9_-]{20,300})" + _E,
        _mixed_random,
        strict=_B + r"(?P<value>sk-(?!ant-)[A-Za-z0-9_-]{16,300})",
    ),
    Shape(
        "google-api-key", "a Google API key", _B + r"(?P<value>AIza[0-9A-Za-z_-]{35})" + _E, _not_placeholder
    ),
    Shape(
        "aws-access-key-id",
        "an AWS access key",
        r"(?<![A-Z0-9])(?P<value>(?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Z0-9])",
        _not_placeholder,
    ),
    Shape(
        "aws-secret-access-key",
        "an AWS secret key",
        r"(?i:aws_?secret_?(?:access_?)?key)[\"']?\s*[:=]\s*[\"']?(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        _mixed_random,
    ),
    Shape(
        "slack-token",
        "a Slack token",
        _B + r"(?P<value>xox[abeoprs]-[A-Za-z0-9-]{10,250})" + _E,
        _has_digit,
    ),
    Shape(
        "telegram-bot-token",
        "a Telegram bot token",
        _B + r"(?P<value>[0-9]{8,10}:[A-Za-z0-9_-]{35})" + _E,
        _mixed_random,
        strict=r"(?<![\w])(?P<value>[0-9]{6,12}:[A-Za-z0-9_-]{35})" + _E,
    ),
    Shape(
        "url-password",
        "a password in a URL",
        r"://[^/\s:@\"'<>]+:(?P<value>[^/\s@\"'<>]+)@",
        _always,
        guard=False,
    ),
)

SHAPE_BY_KIND = {shape.kind: shape for shape in SHAPES}


def combined_pattern(shapes: Iterable[Shape] = SHAPES, strict: bool = False) -> re.Pattern[str]:
    """One compiled alternation; alternative i is the group `s<i>` and its secret the group `v<i>`."""
    parts = []
    for index, shape in enumerate(shapes):
        source = shape.strict_pattern if strict else shape.pattern
        inner = source.replace("(?P<value>", f"(?P<v{index}>")
        parts.append(f"(?P<s{index}>{inner})")
    return re.compile("|".join(parts))


PATTERN = combined_pattern()
_STRICT_PATTERN = combined_pattern(strict=True)

# A cheap necessary condition for any shape above: a distinctive prefix, "secret" (the AWS key line, matched
# case-insensitively), a URL with a user part, or the Telegram shape. Checked first, it makes clean lines
# (nearly all of them) cost a few microseconds.
_PREFIXES = re.compile(r"gh[pousr]_|github_pat_|sk-|AIza|AKIA|ASIA|xox[abeoprs]-|-----BEGIN|://[^/\s]*@")
_TELEGRAM = re.compile(r"[0-9]{6,12}:[A-Za-z0-9_-]{35}")


def may_contain_secret(text: str) -> bool:
    """False only when no shape can match `text` (a fast pre-check; True means "run the full pattern")."""
    return bool(_PREFIXES.search(text) or "secret" in text.lower() or _TELEGRAM.search(text))


@dataclass(frozen=True)
class SecretMatch:
    kind: str
    start: int  # span of the secret value within the searched text
    end: int
    plausible: bool
    guarded: bool  # the shape is refused by the commit/push guard

    def value(self, text: str) -> str:
        return text[self.start : self.end]


def find_secrets(text: str, pattern: re.Pattern[str] = PATTERN) -> Iterator[SecretMatch]:
    """Every shape match in `text` (plausible or not), left to right, non-overlapping.

    A password in a URL that is itself a known token shape (`https://x-access-token:ghp_…@host`) is reported
    as that token's kind."""
    for match in pattern.finditer(text):
        name = match.lastgroup
        if name is None:
            continue
        index = int(name[1:])
        group = f"v{index}"
        shape = SHAPES[index]
        value = match.group(group)
        if shape.kind == "url-password":
            inner = next(find_secrets(value), None)
            if inner is not None and inner.kind != "url-password":
                start = match.start(group)
                yield SecretMatch(inner.kind, start + inner.start, start + inner.end, inner.plausible, True)
                continue
        yield SecretMatch(
            shape.kind, match.start(group), match.end(group), shape.plausible(value), shape.guard
        )


def strict_label(text: str) -> str | None:
    """Strict mode (configuration): what kind of secret `text` looks like, placeholder or not; else None."""
    match = _STRICT_PATTERN.search(text)
    if match is None or match.lastgroup is None:
        return None
    return SHAPES[int(match.lastgroup[1:])].label


def fingerprint(value: str) -> str:
    """The operator-facing identity of one secret value: `sha256:<hex>` (reveals nothing of the value)."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def mask(value: str) -> str:
    return value[:4] + "…[masked]"
