"""Branch protection and rulesets, as far as required status checks go (GitHub's shapes and status codes).

REST: PUT/GET/DELETE `/repos/{o}/{r}/branches/{b}/protection`, GET `…/protection/required_status_checks`
(404 "Branch not protected" / "Required status checks not enabled"), POST/GET `/repos/{o}/{r}/rulesets`, and
GET `/repos/{o}/{r}/rules/branches/{b}` (the rules of every active ruleset whose `ref_name` condition matches).
Admin: PUT `/_sandbox/repos/{o}/{r}/protection-access` `{"mode": "ok" | "forbidden" | "hidden"}` makes the
protection endpoints answer as they do to a token that may not read them (403, or 404 as GitHub does for a
token without admin rights), so clients can be tested for "cannot tell" versus "none".
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.routing import ApiError, Request, Response, Router, int_param, not_found

TABLES = """
CREATE TABLE IF NOT EXISTS branch_protections (
    repo_id INTEGER, branch TEXT, strict INTEGER, checks TEXT, PRIMARY KEY (repo_id, branch)
);
CREATE TABLE IF NOT EXISTS rulesets (
    id INTEGER PRIMARY KEY, repo_id INTEGER, name TEXT, target TEXT, enforcement TEXT, conditions TEXT,
    rules TEXT, created_at TEXT
);
CREATE TABLE IF NOT EXISTS protection_access (repo_id INTEGER PRIMARY KEY, mode TEXT);
"""
_ENFORCEMENTS = ("disabled", "active", "evaluate")
_PROTECTION_KEYS = (
    "required_status_checks",
    "enforce_admins",
    "required_pull_request_reviews",
    "restrictions",
)
_BRANCH = "/repos/{owner}/{repo}/branches/{branch:path}/protection"


class ProtectionRoutes:
    def __init__(self, core: ForgeCore) -> None:
        self.core = core
        with core.db.lock:
            core.db.conn.executescript(TABLES)

    def register(self, router: Router) -> None:
        router.add("GET", _BRANCH + "/required_status_checks", self.get_required_checks)
        router.add("GET", _BRANCH, self.get_protection)
        router.add("PUT", _BRANCH, self.put_protection, body=_PROTECTION_KEYS)
        router.add("DELETE", _BRANCH, self.delete_protection)
        router.add(
            "GET", "/repos/{owner}/{repo}/rules/branches/{branch:path}", self.get_branch_rules, paged=True
        )
        router.add("GET", "/repos/{owner}/{repo}/rulesets", self.list_rulesets, paged=True)
        router.add(
            "POST",
            "/repos/{owner}/{repo}/rulesets",
            self.create_ruleset,
            body=("name", "target", "enforcement", "conditions", "rules"),
        )
        router.add("GET", "/repos/{owner}/{repo}/rulesets/{ruleset_id}", self.get_ruleset)

    def guard_merge(self, repo: Repo, base: str, base_sha: str, head_sha: str) -> None:
        """As GitHub with "require branches to be up to date": a head that does not contain the base tip is
        refused (protection with `strict`, or an active ruleset with `strict_required_status_checks_policy`)."""
        if not self.strict(repo, base):
            return
        if not self.core.bare(repo).is_ancestor(base_sha, head_sha):
            raise ApiError(405, "Head branch is not up to date with the base branch")

    def strict(self, repo: Repo, branch: str) -> bool:
        row = self.core.db.one(
            "SELECT strict, checks FROM branch_protections WHERE repo_id = ? AND branch = ?",
            (repo.id, branch),
        )
        if row is not None and row["checks"] is not None and row["strict"]:
            return True
        rows = self.core.db.all(
            "SELECT conditions, rules FROM rulesets WHERE repo_id = ? AND target = 'branch' AND enforcement = 'active'",
            (repo.id,),
        )
        for ruleset in rows:
            if not _matches(json.loads(ruleset["conditions"]), branch, repo.default_branch):
                continue
            for rule in json.loads(ruleset["rules"]):
                parameters = rule.get("parameters") or {}
                if rule.get("type") == "required_status_checks" and parameters.get(
                    "strict_required_status_checks_policy"
                ):
                    return True
        return False

    def register_admin(self, router: Router) -> None:
        router.add("PUT", "/repos/{owner}/{repo}/protection-access", self.set_access, body=None)

    # --- branch protection --------------------------------------------------------------------------------
    def _protected(self, request: Request) -> tuple[Repo, str, Any]:
        repo = self.core.repo(request.params["owner"], request.params["repo"])
        self._check_access(repo)
        branch = request.params["branch"]
        if self.core.bare(repo).resolve(branch) is None:
            raise ApiError(404, "Branch not found")
        row = self.core.db.one(
            "SELECT * FROM branch_protections WHERE repo_id = ? AND branch = ?", (repo.id, branch)
        )
        return repo, branch, row

    def get_protection(self, request: Request) -> Response:
        repo, branch, row = self._protected(request)
        if row is None:
            raise ApiError(404, "Branch not protected")
        return Response(200, self._protection_json(repo, branch, row))

    def get_required_checks(self, request: Request) -> Response:
        repo, branch, row = self._protected(request)
        if row is None:
            raise ApiError(404, "Branch not protected")
        if row["checks"] is None:
            raise ApiError(404, "Required status checks not enabled")
        return Response(200, self._checks_json(repo, branch, row))

    def put_protection(self, request: Request) -> Response:
        repo, branch, _ = self._protected(request)
        data = request.json_object()
        missing = [key for key in _PROTECTION_KEYS if key not in data]
        if missing:
            raise ApiError(422, f"Invalid request.\n\n{', '.join(missing)} wasn't supplied.")
        required = data["required_status_checks"]
        strict, checks = False, None
        if required is not None:
            if not isinstance(required, dict) or not isinstance(required.get("strict"), bool):
                raise ApiError(422, "Invalid request.\n\nrequired_status_checks.strict wasn't supplied.")
            strict, checks = required["strict"], _checks_from(required)
        self.core.db.execute(
            "INSERT OR REPLACE INTO branch_protections (repo_id, branch, strict, checks) VALUES (?, ?, ?, ?)",
            (repo.id, branch, int(strict), None if checks is None else json.dumps(checks)),
        )
        _, _, row = self._protected(request)
        return Response(200, self._protection_json(repo, branch, row))

    def delete_protection(self, request: Request) -> Response:
        repo, branch, _ = self._protected(request)
        self.core.db.execute(
            "DELETE FROM branch_protections WHERE repo_id = ? AND branch = ?", (repo.id, branch)
        )
        return Response(204)

    def _check_access(self, repo: Repo) -> None:
        row = self.core.db.one("SELECT mode FROM protection_access WHERE repo_id = ?", (repo.id,))
        mode = row["mode"] if row else "ok"
        if mode == "forbidden":
            raise ApiError(403, "Resource not accessible by personal access token")
        if mode == "hidden":
            raise not_found()

    def _protection_json(self, repo: Repo, branch: str, row: Any) -> dict[str, Any]:
        url = f"{self.core.urls.api}/repos/{repo.full_name}/branches/{branch}/protection"
        body: dict[str, Any] = {"url": url}
        if row["checks"] is not None:
            body["required_status_checks"] = self._checks_json(repo, branch, row)
        body["enforce_admins"] = {"url": url + "/enforce_admins", "enabled": False}
        return body

    def _checks_json(self, repo: Repo, branch: str, row: Any) -> dict[str, Any]:
        url = (
            f"{self.core.urls.api}/repos/{repo.full_name}/branches/{branch}/protection/required_status_checks"
        )
        checks = json.loads(row["checks"])
        return {
            "url": url,
            "strict": bool(row["strict"]),
            "contexts": [c["context"] for c in checks],
            "checks": checks,
            "contexts_url": url + "/contexts",
        }

    # --- rulesets -----------------------------------------------------------------------------------------
    def create_ruleset(self, request: Request) -> Response:
        repo = self.core.repo(request.params["owner"], request.params["repo"])
        data = request.json_object()
        name, enforcement = data.get("name"), data.get("enforcement")
        if not isinstance(name, str) or not name or enforcement not in _ENFORCEMENTS:
            raise ApiError(
                422, "Invalid request.\n\nname and enforcement (disabled|active|evaluate) are required."
            )
        target = data.get("target", "branch")
        conditions = data.get("conditions") or {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}}
        rules = data.get("rules") or []
        if target not in ("branch", "tag", "push") or not isinstance(rules, list):
            raise ApiError(422, "Invalid request.\n\ntarget or rules is invalid.")
        for rule in rules:
            if not isinstance(rule, dict) or not isinstance(rule.get("type"), str):
                raise ApiError(422, "Invalid request.\n\nEach rule needs a type.")
        ruleset_id = self.core.db.execute(
            "INSERT INTO rulesets (repo_id, name, target, enforcement, conditions, rules, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, datetime('now'))",
            (repo.id, name, target, enforcement, json.dumps(conditions), json.dumps(rules)),
        )
        return Response(201, self._ruleset_json(repo, self._ruleset_row(repo, ruleset_id)))

    def list_rulesets(self, request: Request) -> Response:
        repo = self.core.repo(request.params["owner"], request.params["repo"])
        rows = self.core.db.all("SELECT * FROM rulesets WHERE repo_id = ? ORDER BY id", (repo.id,))
        return Response(200, [self._ruleset_json(repo, row, full=False) for row in rows])

    def get_ruleset(self, request: Request) -> Response:
        repo = self.core.repo(request.params["owner"], request.params["repo"])
        return Response(
            200, self._ruleset_json(repo, self._ruleset_row(repo, int_param(request.params["ruleset_id"])))
        )

    def get_branch_rules(self, request: Request) -> Response:
        repo = self.core.repo(request.params["owner"], request.params["repo"])
        branch = request.params["branch"]
        rows = self.core.db.all(
            "SELECT * FROM rulesets WHERE repo_id = ? AND target = 'branch' AND enforcement = 'active' "
            "ORDER BY id",
            (repo.id,),
        )
        rules = []
        for row in rows:
            if not _matches(json.loads(row["conditions"]), branch, repo.default_branch):
                continue
            for rule in json.loads(row["rules"]):
                rules.append(
                    {
                        **rule,
                        "ruleset_source_type": "Repository",
                        "ruleset_source": repo.full_name,
                        "ruleset_id": row["id"],
                    }
                )
        return Response(200, rules)

    def _ruleset_row(self, repo: Repo, ruleset_id: int) -> Any:
        row = self.core.db.one("SELECT * FROM rulesets WHERE repo_id = ? AND id = ?", (repo.id, ruleset_id))
        if row is None:
            raise not_found()
        return row

    def _ruleset_json(self, repo: Repo, row: Any, full: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": row["id"],
            "name": row["name"],
            "target": row["target"],
            "source_type": "Repository",
            "source": repo.full_name,
            "enforcement": row["enforcement"],
            "node_id": f"RRS_{row['id']}",
            "_links": {"self": {"href": f"{self.core.urls.api}/repos/{repo.full_name}/rulesets/{row['id']}"}},
        }
        if full:
            body["conditions"] = json.loads(row["conditions"])
            body["rules"] = json.loads(row["rules"])
        return body

    # --- admin --------------------------------------------------------------------------------------------
    def set_access(self, request: Request) -> Response:
        repo = self.core.repo(request.params["owner"], request.params["repo"])
        mode = request.json_object().get("mode")
        if mode not in ("ok", "forbidden", "hidden"):
            raise ApiError(422, "mode must be ok, forbidden or hidden")
        self.core.db.execute(
            "INSERT OR REPLACE INTO protection_access (repo_id, mode) VALUES (?, ?)", (repo.id, mode)
        )
        return Response(200, {"repo": repo.full_name, "mode": mode})


def _checks_from(required: dict[str, Any]) -> list[dict[str, Any]]:
    """`checks: [{context, app_id}]`, else the deprecated `contexts: [name]` (any app: app_id null)."""
    checks = required.get("checks")
    if isinstance(checks, list) and checks:
        out = []
        for check in checks:
            if not isinstance(check, dict) or not isinstance(check.get("context"), str):
                raise ApiError(422, "Invalid request.\n\nEach check needs a context.")
            app_id = check.get("app_id")
            out.append(
                {
                    "context": check["context"],
                    "app_id": app_id if isinstance(app_id, int) and app_id > 0 else None,
                }
            )
        return out
    contexts = required.get("contexts")
    if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
        raise ApiError(422, "Invalid request.\n\nrequired_status_checks.contexts wasn't supplied.")
    return [{"context": c, "app_id": None} for c in contexts]


def _matches(conditions: dict[str, Any], branch: str, default_branch: str) -> bool:
    """GitHub's `ref_name` condition: include/exclude patterns over `refs/heads/…`, `~DEFAULT_BRANCH`, `~ALL`."""
    ref = f"refs/heads/{branch}"
    ref_name = conditions.get("ref_name") or {}

    def hit(pattern: str) -> bool:
        if pattern == "~ALL":
            return True
        if pattern == "~DEFAULT_BRANCH":
            return branch == default_branch
        return fnmatch.fnmatchcase(ref, pattern) or fnmatch.fnmatchcase(branch, pattern)

    included = any(hit(p) for p in ref_name.get("include") or [])
    return included and not any(hit(p) for p in ref_name.get("exclude") or [])
