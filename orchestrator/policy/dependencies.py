"""The dependency watcher's policy: audit reports → vulnerable dependencies → issues and safe pin bumps. Pure.

Parsers accept the JSON of `pip-audit --format json` (the current `{"dependencies": [...]}` shape and the
older bare list) and of `npm audit --json` (report version 2 of npm ≥ 7, and the `advisories` map of npm 6).
A row pip-audit could not audit (`skip_reason`: offline, not on the index, unresolvable) is not a clean
dependency: `pip_audit_unaudited` lists them, and the watcher reports "could not audit" for them.
A fix is *safe* when it is a patch-level bump of a pinned requirement: same release numbers except the last
of three or more (2.0.6 → 2.0.7, 3.1.2 → 3.1.4; not 3.6 → 3.7, not 2.31.0 → 2.32.0, no pre-releases), the
line pinned with `==` and not hash-checked (a bump without new hashes would break the install).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.policy.proposal import Proposal
from orchestrator.values.untrusted_text import agent_text

JOB = "dependency_watcher"
SECURITY_LABEL = "security"
_RELEASE = re.compile(r"^\d+(\.\d+)*$")
_GHSA = re.compile(r"GHSA(-[23456789cfghjmpqrvwx]{4}){3}")


class AuditParseError(ValueError):
    """The tool's output is not the JSON report this parser knows."""


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...] = ()
    summary: str = ""
    fix_versions: tuple[str, ...] = ()
    url: str = ""
    severity: str = ""


@dataclass(frozen=True)
class VulnerableDependency:
    ecosystem: str  # "pip" | "npm"
    name: str
    version: str  # the installed / pinned version ("" when the report does not say: npm 7+)
    advisories: tuple[Advisory, ...]
    vulnerable_range: str = ""
    fix_hint: str = ""  # what the tool suggests, e.g. "npm audit fix: express 4.21.2"

    @property
    def key(self) -> str:
        return (
            f"dependency:{self.ecosystem}:{normalize_name(self.name)}@{self.version or self.vulnerable_range}"
        )

    @property
    def fix_version(self) -> str | None:
        return required_fix(self.version, self.advisories) if self.version else None

    @property
    def patch_fix(self) -> str | None:
        target = self.fix_version
        return target if target is not None and is_patch_bump(self.version, target) else None


def normalize_name(name: str) -> str:
    """PEP 503 normalization (npm names are already lowercase)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def release(version: str) -> tuple[int, ...] | None:
    """The numeric release of a final version ("2.0.7" → (2, 0, 7)); None for pre-releases and the rest."""
    text = version.strip().lstrip("v")
    return tuple(int(part) for part in text.split(".")) if _RELEASE.match(text) else None


def required_fix(version: str, advisories: Sequence[Advisory]) -> str | None:
    """The lowest version that fixes every advisory (per advisory: its lowest fix above `version`)."""
    current = release(version)
    if current is None or not advisories:
        return None
    needed: list[tuple[tuple[int, ...], str]] = []
    for advisory in advisories:
        fixes = sorted((r, v) for v in advisory.fix_versions if (r := release(v)) is not None and r > current)
        if not fixes:
            return None  # some advisory has no fix above the current version
        needed.append(fixes[0])
    return max(needed)[1]


def is_patch_bump(current: str, target: str) -> bool:
    a, b = release(current), release(target)
    if a is None or b is None:
        return False
    return len(a) == len(b) >= 3 and a[:-1] == b[:-1] and b[-1] > a[-1]


# --- parsers --------------------------------------------------------------------------------------------


def pip_audit_unaudited(text: str) -> tuple[str, ...]:
    """The dependencies pip-audit did not audit, each with its reason: rows carrying `skip_reason` (offline,
    not on the index, unresolvable). They are never clean — "name==version: reason"."""
    data = _load(text, "pip-audit")
    rows = data.get("dependencies") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise AuditParseError("pip-audit: expected a list of dependencies")
    return tuple(
        f"{row.get('name', '?')}=={row.get('version', '?')}: {row['skip_reason']}"
        for row in rows
        if isinstance(row, dict) and row.get("skip_reason")
    )


def parse_pip_audit(text: str) -> tuple[VulnerableDependency, ...]:
    data = _load(text, "pip-audit")
    rows = data.get("dependencies") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise AuditParseError("pip-audit: expected a list of dependencies")
    found = []
    for row in rows:
        if not isinstance(row, dict) or "skip_reason" in row or not row.get("vulns"):
            continue
        advisories = tuple(
            Advisory(
                id=str(v.get("id", "")),
                aliases=tuple(str(a) for a in v.get("aliases", ())),
                summary=str(v.get("description", "")),
                fix_versions=tuple(str(f) for f in v.get("fix_versions", ())),
            )
            for v in row["vulns"]
            if isinstance(v, dict)
        )
        found.append(
            VulnerableDependency("pip", str(row.get("name", "")), str(row.get("version", "")), advisories)
        )
    return tuple(found)


def parse_npm_audit(text: str) -> tuple[VulnerableDependency, ...]:
    data = _load(text, "npm audit")
    if not isinstance(data, dict):
        raise AuditParseError("npm audit: expected a JSON object")
    if isinstance(data.get("vulnerabilities"), dict) and data.get("auditReportVersion", 2) >= 2:
        return _npm_v2(data["vulnerabilities"])
    if isinstance(data.get("advisories"), dict):
        return _npm_v1(data["advisories"])
    if "error" in data:
        raise AuditParseError(f"npm audit reported an error: {_error_text(data['error'])}")
    raise AuditParseError("npm audit: neither `vulnerabilities` (v2) nor `advisories` (v1) in the report")


def _npm_v2(entries: Mapping[str, Any]) -> tuple[VulnerableDependency, ...]:
    found = []
    for name, entry in sorted(entries.items()):
        own = [via for via in entry.get("via", ()) if isinstance(via, dict)]
        if not own:
            continue  # vulnerable only through another package, which gets its own issue
        advisories = tuple(
            Advisory(
                id=_advisory_id(str(via.get("url", "")), str(via.get("source", ""))),
                summary=str(via.get("title", "")),
                url=str(via.get("url", "")),
                severity=str(via.get("severity", "")),
            )
            for via in own
        )
        fix = entry.get("fixAvailable")
        hint = ""
        if isinstance(fix, dict):
            major = " (a semver-major change)" if fix.get("isSemVerMajor") else ""
            hint = f"npm audit fix: {fix.get('name')} {fix.get('version')}{major}"
        elif fix is True:
            hint = "npm audit fix"
        found.append(VulnerableDependency("npm", name, "", advisories, str(entry.get("range", "")), hint))
    return tuple(found)


def _npm_v1(advisories: Mapping[str, Any]) -> tuple[VulnerableDependency, ...]:
    by_package: dict[tuple[str, str], list[Advisory]] = {}
    for key, adv in sorted(advisories.items()):
        advisory = Advisory(
            id=str(adv.get("github_advisory_id") or _advisory_id(str(adv.get("url", "")), str(key))),
            aliases=tuple(str(c) for c in adv.get("cves", ())),
            summary=str(adv.get("title", "")),
            url=str(adv.get("url", "")),
            severity=str(adv.get("severity", "")),
        )
        for finding in adv.get("findings", ()) or [{"version": ""}]:
            by_package.setdefault(
                (str(adv.get("module_name", "")), str(finding.get("version", ""))), []
            ).append(advisory)
    return tuple(
        VulnerableDependency("npm", name, version, tuple(advs))
        for (name, version), advs in sorted(by_package.items())
    )


def _load(text: str, tool: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AuditParseError(f"{tool}: output is not JSON ({exc})") from exc


def _advisory_id(url: str, fallback: str) -> str:
    match = _GHSA.search(url)
    return match.group(0) if match else (f"npm-{fallback}" if fallback else url or "unknown")


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('code', '')} {error.get('summary', '')}".strip()
    return str(error)


# --- pin bumps ------------------------------------------------------------------------------------------

_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?(?P<op>\s*==\s*)(?P<version>[^\s;#\\]+)"
)


def bump_pin(requirements: str, name: str, current: str, target: str) -> str | None:
    """requirements.txt with `name==current` changed to `name==target` (extras, markers and comments kept);
    None when the package is not pinned to `current` there, or the file is hash-checked."""
    if "--hash" in requirements:
        return None
    wanted = normalize_name(name)
    lines = requirements.splitlines(keepends=True)
    changed = False
    for index, line in enumerate(lines):
        match = _PIN.match(line.lstrip())
        if match is None or normalize_name(match["name"]) != wanted or match["version"] != current:
            continue
        indent = line[: len(line) - len(line.lstrip())]
        stripped = line.lstrip()
        lines[index] = indent + stripped[: match.start("version")] + target + stripped[match.end("version") :]
        changed = True
    return "".join(lines) if changed else None


# --- issues ---------------------------------------------------------------------------------------------


def proposals(dependencies: Iterable[VulnerableDependency], repo: str = "") -> list[Proposal]:
    """One issue per vulnerable dependency (its key: ecosystem, name and version)."""
    return [_proposal(dep, repo) for dep in dependencies if dep.advisories]


def _proposal(dep: VulnerableDependency, repo: str) -> Proposal:
    ids = [a.id for a in dep.advisories]
    shown_ids = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    where = (
        f"{dep.name} {dep.version}"
        if dep.version
        else f"{dep.name} ({dep.vulnerable_range or 'some versions'})"
    )
    fix = dep.fix_version
    if fix:
        goal = f"Upgrade {dep.name} from {dep.version} to {fix} or later: it has known vulnerabilities ({shown_ids})."
        criteria = f"- {dep.name} is at {fix} or later\n- the tests pass\n- the next dependency audit no longer reports {ids[0]}"
    else:
        goal = f"Remove the known vulnerabilities of {where} ({shown_ids}) by upgrading or replacing it."
        criteria = f"- the next dependency audit no longer reports {dep.name}\n- the tests pass"
    evidence = []
    for advisory in dep.advisories[:10]:
        aliases = f" ({', '.join(advisory.aliases)})" if advisory.aliases else ""
        severity = f" [{advisory.severity}]" if advisory.severity else ""
        fixed = f" fixed in {', '.join(advisory.fix_versions)}" if advisory.fix_versions else ""
        summary = agent_text(" ".join(advisory.summary.split())[:300], 400)
        evidence.append(f"- {advisory.id}{aliases}{severity}{fixed}: {summary} {advisory.url}".rstrip())
    if dep.fix_hint:
        evidence.append(f"- the tool suggests: {dep.fix_hint}")
    return Proposal(
        repo=repo,
        key=dep.key,
        title=f"Vulnerable dependency: {where} ({shown_ids})",
        goal=goal,
        success_criteria=criteria,
        summary=f"the {dep.ecosystem} dependency audit reported {where}",
        evidence="\n".join(evidence),
        labels=(SECURITY_LABEL,),
    )
