"""The dependency watcher's pure policy on recorded-shape audit reports: parsers, fix versions, pin bumps."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.loops.common import proposal_draft
from orchestrator.policy import dependencies as d
from orchestrator.policy.requirement_guard import check_requirements

# `pip-audit -r requirements.txt --format json` (pip-audit 2.7): vulnerable, clean and skipped dependencies.
PIP_AUDIT: dict[str, list[dict[str, Any]]] = {
    "dependencies": [
        {
            "name": "requests",
            "version": "2.31.0",
            "vulns": [
                {
                    "id": "GHSA-9wx4-h78v-vm56",
                    "fix_versions": ["2.32.0"],
                    "aliases": ["CVE-2024-35195"],
                    "description": "When making requests through a Requests `Session`, if the first request is "
                    "made with `verify=False` to disable cert verification, all subsequent requests to the same "
                    "host will continue to ignore cert verification regardless of changes to the value of "
                    "`verify`.",
                }
            ],
        },
        {
            "name": "Jinja2",
            "version": "3.1.2",
            "vulns": [
                {
                    "id": "GHSA-h5c8-rqwp-cp95",
                    "fix_versions": ["3.1.3"],
                    "aliases": ["CVE-2024-22195"],
                    "description": "The `xmlattr` filter in affected versions of Jinja accepts keys containing "
                    "spaces. @someone said Closes #1",
                },
                {
                    "id": "GHSA-h75v-3vvj-5mfj",
                    "fix_versions": ["3.1.4"],
                    "aliases": ["CVE-2024-34064"],
                    "description": "The `xmlattr` filter in affected versions of Jinja accepts keys containing "
                    "non-attribute characters.",
                },
            ],
        },
        {
            "name": "urllib3",
            "version": "2.0.6",
            "vulns": [
                {
                    "id": "GHSA-g4mx-q9vg-27p4",
                    "fix_versions": ["1.26.18", "2.0.7"],
                    "aliases": ["CVE-2023-45803"],
                    "description": "urllib3 previously wouldn't remove the HTTP request body when an HTTP "
                    "redirect response using status 303 See Other was received.",
                }
            ],
        },
        {
            "name": "idna",
            "version": "3.6",
            "vulns": [
                {
                    "id": "PYSEC-2024-60",
                    "fix_versions": ["3.7"],
                    "aliases": ["CVE-2024-3651", "GHSA-jjg7-2v4v-x38h"],
                    "description": "A vulnerability was identified in the kjd/internationalized-domain-names-in-"
                    "applications (idna) package, specifically within the `idna.encode()` function.",
                }
            ],
        },
        {"name": "certifi", "version": "2024.2.2", "vulns": []},
        {
            "name": "internal-tool",
            "skip_reason": "Dependency not found on PyPI and could not be audited: internal-tool (0.1.0)",
        },
    ],
    "fixes": [],
}

# `npm audit --json` (npm 10, auditReportVersion 2): a direct dependency vulnerable through a transitive one.
NPM_AUDIT_V2 = {
    "auditReportVersion": 2,
    "vulnerabilities": {
        "body-parser": {
            "name": "body-parser",
            "severity": "high",
            "isDirect": False,
            "via": [
                {
                    "source": 1099520,
                    "name": "body-parser",
                    "dependency": "body-parser",
                    "title": "body-parser vulnerable to denial of service when url encoding is enabled",
                    "url": "https://github.com/advisories/GHSA-qwcr-r2fm-qrc7",
                    "severity": "high",
                    "cwe": ["CWE-405"],
                    "cvss": {"score": 7.5, "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
                    "range": "<1.20.3",
                }
            ],
            "effects": ["express"],
            "range": "<1.20.3",
            "nodes": ["node_modules/body-parser"],
            "fixAvailable": {"name": "express", "version": "4.21.2", "isSemVerMajor": False},
        },
        "express": {
            "name": "express",
            "severity": "high",
            "isDirect": True,
            "via": ["body-parser"],
            "effects": [],
            "range": "<=4.21.1",
            "nodes": ["node_modules/express"],
            "fixAvailable": {"name": "express", "version": "4.21.2", "isSemVerMajor": False},
        },
        "braces": {
            "name": "braces",
            "severity": "high",
            "isDirect": False,
            "via": [
                {
                    "source": 1098094,
                    "name": "braces",
                    "dependency": "braces",
                    "title": "Uncontrolled resource consumption in braces",
                    "url": "https://github.com/advisories/GHSA-grv7-fg5c-xmjg",
                    "severity": "high",
                    "cwe": ["CWE-400", "CWE-1050"],
                    "cvss": {"score": 7.5, "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
                    "range": "<3.0.3",
                }
            ],
            "effects": [],
            "range": "<3.0.3",
            "nodes": ["node_modules/braces"],
            "fixAvailable": True,
        },
    },
    "metadata": {
        "vulnerabilities": {"info": 0, "low": 0, "moderate": 0, "high": 3, "critical": 0, "total": 3},
        "dependencies": {"prod": 70, "dev": 1, "optional": 0, "peer": 0, "peerOptional": 0, "total": 70},
    },
}

# `npm audit --json` of npm 6 (the advisories map).
NPM_AUDIT_V1 = {
    "actions": [],
    "advisories": {
        "1179": {
            "findings": [{"version": "1.2.0", "paths": ["mkdirp>minimist"]}],
            "id": 1179,
            "title": "Prototype Pollution",
            "module_name": "minimist",
            "cves": ["CVE-2020-7598"],
            "vulnerable_versions": "<0.2.1 || >=1.0.0 <1.2.3",
            "patched_versions": ">=0.2.1 <1.0.0 || >=1.2.3",
            "severity": "low",
            "github_advisory_id": "GHSA-vh95-rmgr-6w4m",
            "url": "https://npmjs.com/advisories/1179",
        }
    },
    "muted": [],
    "metadata": {"vulnerabilities": {"info": 0, "low": 1, "moderate": 0, "high": 0, "critical": 0}},
}

NPM_NO_LOCKFILE = {
    "error": {
        "code": "ENOLOCK",
        "summary": "This command requires an existing lockfile.",
        "detail": "Try creating one first with: npm i --package-lock-only",
    }
}


def by_name(found):
    return {dep.name: dep for dep in found}


def test_pip_audit_report():
    found = by_name(d.parse_pip_audit(json.dumps(PIP_AUDIT)))
    assert sorted(found) == [
        "Jinja2",
        "idna",
        "requests",
        "urllib3",
    ]  # clean and skipped ones are not findings
    jinja = found["Jinja2"]
    assert [a.id for a in jinja.advisories] == ["GHSA-h5c8-rqwp-cp95", "GHSA-h75v-3vvj-5mfj"]
    assert jinja.fix_version == "3.1.4" and jinja.patch_fix == "3.1.4"  # the fix for both advisories
    assert found["urllib3"].patch_fix == "2.0.7"  # 1.26.18 is below the installed version
    assert found["requests"].fix_version == "2.32.0" and found["requests"].patch_fix is None  # minor bump
    assert found["idna"].fix_version == "3.7" and found["idna"].patch_fix is None
    assert jinja.key == "dependency:pip:jinja2@3.1.2"


def test_the_legacy_pip_audit_list_is_read_too():
    legacy = [row for row in PIP_AUDIT["dependencies"] if "vulns" in row]
    assert by_name(d.parse_pip_audit(json.dumps(legacy))).keys() == {"requests", "Jinja2", "urllib3", "idna"}


def test_npm_audit_v2_report():
    found = by_name(d.parse_npm_audit(json.dumps(NPM_AUDIT_V2)))
    assert sorted(found) == ["body-parser", "braces"]  # express is vulnerable only through body-parser
    body_parser = found["body-parser"]
    assert (
        body_parser.advisories[0].id == "GHSA-qwcr-r2fm-qrc7" and body_parser.advisories[0].severity == "high"
    )
    assert body_parser.vulnerable_range == "<1.20.3" and body_parser.version == ""
    assert body_parser.fix_hint == "npm audit fix: express 4.21.2"
    assert body_parser.patch_fix is None  # npm fixes go through issues, not pin bumps
    assert found["braces"].fix_hint == "npm audit fix"
    assert body_parser.key == "dependency:npm:body-parser@<1.20.3"


def test_npm_audit_v1_report():
    (minimist,) = d.parse_npm_audit(json.dumps(NPM_AUDIT_V1))
    assert (minimist.name, minimist.version) == ("minimist", "1.2.0")
    assert minimist.advisories[0].id == "GHSA-vh95-rmgr-6w4m" and minimist.advisories[0].aliases == (
        "CVE-2020-7598",
    )


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (d.parse_pip_audit, "ERROR: could not resolve", "not JSON"),
        (d.parse_pip_audit, '{"fixes": []}', "expected a list"),
        (
            d.parse_npm_audit,
            json.dumps(NPM_NO_LOCKFILE),
            "ENOLOCK This command requires an existing lockfile.",
        ),
        (d.parse_npm_audit, "[]", "expected a JSON object"),
        (d.parse_npm_audit, '{"metadata": {}}', "neither"),
    ],
)
def test_unreadable_reports_are_named_errors(parse, text, message):
    with pytest.raises(d.AuditParseError, match=message):
        parse(text)


@pytest.mark.parametrize(
    ("current", "target", "patch"),
    [
        ("2.0.6", "2.0.7", True),
        ("3.1.2", "3.1.4", True),
        ("1.2.3.4", "1.2.3.5", True),
        ("2.31.0", "2.32.0", False),
        ("3.6", "3.7", False),
        ("1.2.3", "2.0.0", False),
        ("1.2.3", "1.2.3", False),
        ("1.2.3", "1.2.4rc1", False),
        ("1.2", "1.2.1", False),
    ],
)
def test_patch_bumps(current, target, patch):
    assert d.is_patch_bump(current, target) is patch


def test_no_fix_version_when_an_advisory_has_no_fix():
    advisories = (d.Advisory("A", fix_versions=("1.0.5",)), d.Advisory("B"))
    assert d.required_fix("1.0.4", advisories) is None


REQUIREMENTS = """# runtime
Jinja2 == 3.1.2  # templates
urllib3[socks]==2.0.6 ; python_version >= "3.8"
requests>=2.31
jinja2-time==0.2.0
"""


@pytest.mark.parametrize(
    ("name", "current", "target", "expected_line"),
    [
        ("jinja2", "3.1.2", "3.1.4", "Jinja2 == 3.1.4  # templates\n"),
        ("URLLIB3", "2.0.6", "2.0.7", 'urllib3[socks]==2.0.7 ; python_version >= "3.8"\n'),
    ],
)
def test_bump_pin_keeps_the_rest_of_the_line(name, current, target, expected_line):
    bumped = d.bump_pin(REQUIREMENTS, name, current, target)
    assert bumped is not None and expected_line in bumped
    assert len(bumped.splitlines()) == len(REQUIREMENTS.splitlines()) and "jinja2-time==0.2.0" in bumped


@pytest.mark.parametrize(
    ("text", "name", "current"),
    [
        (REQUIREMENTS, "requests", "2.31.0"),  # not pinned with ==
        (REQUIREMENTS, "jinja2", "3.1.1"),  # pinned to another version
        ("jinja2==3.1.2 --hash=sha256:abc\n", "jinja2", "3.1.2"),  # hash-checked
    ],
)
def test_bump_pin_refuses_what_it_cannot_change_safely(text, name, current):
    assert d.bump_pin(text, name, current, "9.9.9") is None


def issue_drafts(found):
    return [proposal_draft(p, d.JOB) for p in d.proposals(found)]


def test_issue_drafts_pass_the_requirement_guard_and_neutralize_advisory_text():
    drafts = issue_drafts(d.parse_pip_audit(json.dumps(PIP_AUDIT)))
    assert len(drafts) == 4 and len({draft.key for draft in drafts}) == 4
    jinja = next(draft for draft in drafts if "Jinja2" in draft.title)
    assert jinja.title == "Vulnerable dependency: Jinja2 3.1.2 (GHSA-h5c8-rqwp-cp95, GHSA-h75v-3vvj-5mfj)"
    assert "to 3.1.4 or later" in jinja.body and "CVE-2024-22195" in jinja.body
    assert "`@someone`" in jinja.body and "Closes #1" not in jinja.body  # no mention, no issue closing
    assert jinja.labels == ("security",)
    assert all(not check_requirements(draft.title, draft.body).questions for draft in drafts)
    npm = issue_drafts(d.parse_npm_audit(json.dumps(NPM_AUDIT_V2)))
    assert any("npm audit fix: express 4.21.2" in draft.body for draft in npm)


def test_rows_pip_audit_skipped_are_listed_as_not_audited_never_clean() -> None:
    assert d.pip_audit_unaudited(json.dumps(PIP_AUDIT)) == (
        "internal-tool==?: Dependency not found on PyPI and could not be audited: internal-tool (0.1.0)",
    )
    offline = [{"name": "requests", "version": "2.31.0", "skip_reason": "offline"}]
    assert d.pip_audit_unaudited(json.dumps(offline)) == ("requests==2.31.0: offline",)
    assert d.parse_pip_audit(json.dumps(offline)) == ()  # not vulnerable — and not clean either
    assert d.pip_audit_unaudited(json.dumps({"dependencies": []})) == ()
