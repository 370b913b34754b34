"""Decisions: the latest word of each job about each issue — why it is moving, or why it is not.

Every job records what it decided about an issue (or the issue's PR) at its decision points:

    decisions.record(ctx, job="dispatcher", repo="o/r", issue=12, code="untrusted",
                     words="not dispatched: author 'x' is not a trusted author …", facts={"author": "x"})

- `code` is a short stable name ("untrusted", "needs_info", "dispatched", "running", "waiting", "merged"…),
  `words` the sentence an operator reads, `facts` small JSON details (host, attempt, PR, checks).
- **Deduplicated**: a decision equal to the job's latest one about that issue (same code, words, facts and
  PR) writes nothing, so an idle tick that decides the same again costs one small file read. `since` is when
  the job first decided it.
- A new decision replaces the job's entry in the issue's file (`runtime/state/decisions/<owner>__<name>/
  <issue>.json`, written atomically) and is appended to the event log as a `decision` event, so `log --issue N`
  shows the history and `agentos why` the present.
- A PR is filed under its issue; `pr-<N>.json` points from the PR number to the issue (a PR whose issue is
  unknown is filed as `pr-<N>` itself).
- **Bounded**: files untouched for RETENTION_DAYS are pruned, at most once a day, by whichever job records
  first. A pruned subject that is still being decided on is simply written again.

Recording never breaks a job: a file that cannot be read or written is logged and the job goes on.
`open_prs` / `note_open_prs` keep, per repo, the set of agent PRs pr_monitor saw open on its last tick (written
only when it changes), so `status` lists the PRs waiting and on what.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from orchestrator.state import metrics
from orchestrator.state.runtime import RuntimePaths
from orchestrator.state.store import StoreError, atomic_write_text, locked

log = logging.getLogger(__name__)

DIR = "decisions"
EVENT_STATE = "decision"
RETENTION_DAYS = 90
PRUNE_EVERY = timedelta(days=1)
MAX_WORDS = 1000
MAX_FACT_CHARS = 300
OPEN_PRS = "open_prs.json"
_PRUNE_STAMP = ".pruned"
_SUBJECT = re.compile(r"^(?:pr-)?\d+\.json$")


class ContextLike(Protocol):
    """What recording needs of a job context (orchestrator.state.runtime.JobContext fits)."""

    @property
    def paths(self) -> RuntimePaths: ...

    def clock(self) -> datetime: ...


@dataclass(frozen=True)
class Decision:
    job: str
    code: str
    words: str
    since: datetime
    facts: Mapping[str, Any] = field(default_factory=dict)
    pr: int | None = None

    def same_as(self, other: Decision) -> bool:
        return (self.code, self.words, self.pr, _canonical(self.facts)) == (
            other.code,
            other.words,
            other.pr,
            _canonical(other.facts),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "words": self.words, "since": self.since.isoformat()}
        if self.facts:
            data["facts"] = dict(self.facts)
        if self.pr is not None:
            data["pr"] = self.pr
        return data


@dataclass(frozen=True)
class Subject:
    """Everything recorded about one issue (or one PR whose issue is unknown)."""

    repo: str
    issue: int | None
    pr: int | None  # the newest PR any decision named
    title: str
    decisions: Mapping[str, Decision]  # job → its latest decision

    def newest_first(self) -> list[Decision]:
        return sorted(self.decisions.values(), key=lambda d: d.since, reverse=True)


class CorruptDecisions(ValueError):
    """A decisions file that is not what this module writes."""


# --- paths ---------------------------------------------------------------------------------------------------


def repo_dir(state_dir: Path, repo: str) -> Path:
    return state_dir / DIR / repo.replace("/", "__").lower()


def _subject_path(state_dir: Path, repo: str, issue: int | None, pr: int | None) -> Path:
    name = f"{issue}.json" if issue is not None else f"pr-{pr}.json"
    return repo_dir(state_dir, repo) / name


# --- recording -----------------------------------------------------------------------------------------------


def record(
    ctx: ContextLike,
    *,
    job: str,
    repo: str,
    code: str,
    words: str,
    issue: int | None = None,
    pr: int | None = None,
    title: str = "",
    facts: Mapping[str, Any] | None = None,
    same_code_is_same: bool = False,
) -> bool:
    """Record `job`'s decision about `repo#issue` (or its PR); True when it was new and was written.

    `same_code_is_same`: a decision with the code of the job's latest one counts as a repeat even when its
    words differ (the later words would say less, e.g. "questions already asked" after the questions)."""
    if issue is None and pr is None:
        raise ValueError("a decision names an issue or a PR")
    now = ctx.clock()
    decision = Decision(job, code, words.strip()[:MAX_WORDS], now, _small(facts or {}), pr)
    path = _subject_path(ctx.paths.state, repo, issue, pr)
    try:
        previous = _read_or_none(path)
        if previous is not None and _unchanged(previous, decision, title, same_code_is_same):
            return False
        with locked(path.parent / ".write"):
            _write(path, repo, issue, title, decision, now)
            if issue is not None and pr is not None:
                _write_alias(path.parent, pr, issue)
        _maybe_prune(ctx.paths.state, now)
    except (OSError, StoreError) as exc:
        log.warning("decision not recorded job=%s subject=%s#%s error=%s", job, repo, issue or pr, exc)
        return False
    extra: dict[str, Any] = {"job": job, "code": code}
    if pr is not None:
        extra["pr"] = pr
    metrics.record_event(
        ctx.paths.metrics, state=EVENT_STATE, repo=repo, issue=issue, reason=decision.words, ts=now, **extra
    )
    return True


def _unchanged(previous: Subject, decision: Decision, title: str, by_code: bool) -> bool:
    old = previous.decisions.get(decision.job)
    if old is None or (title and title != previous.title):
        return False
    return old.code == decision.code if by_code else old.same_as(decision)


def _read_or_none(path: Path) -> Subject | None:
    """The subject, or None when it is missing or unreadable (it is then replaced by the next write)."""
    try:
        return _read(path)
    except CorruptDecisions as exc:
        log.warning("replacing an unreadable decisions file %s: %s", path, exc)
        return None


def _write(path: Path, repo: str, issue: int | None, title: str, decision: Decision, now: datetime) -> None:
    current = _read_or_none(path)
    jobs = {job: d.to_json() for job, d in (current.decisions.items() if current else ())}
    old = current.decisions.get(decision.job) if current else None
    kept_since = old.since if old is not None and old.same_as(decision) else decision.since
    jobs[decision.job] = {**decision.to_json(), "since": kept_since.isoformat()}
    data = {
        "repo": repo,
        "issue": issue,
        "title": title or (current.title if current else ""),
        "pr": decision.pr if decision.pr is not None else (current.pr if current else None),
        "updated": now.isoformat(),
        "jobs": jobs,
    }
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1) + "\n")


def _write_alias(directory: Path, pr: int, issue: int) -> None:
    alias = directory / f"pr-{pr}.json"
    try:
        if json.loads(alias.read_text(encoding="utf-8")).get("issue") == issue:
            return
    except (OSError, ValueError, AttributeError):
        pass
    atomic_write_text(alias, json.dumps({"issue": issue}) + "\n")


# --- reading -------------------------------------------------------------------------------------------------


def subject(state_dir: Path, repo: str, number: int) -> Subject | None:
    """What is recorded about `repo#number`, which may be an issue or a PR (GitHub numbers them together)."""
    directory = repo_dir(state_dir, repo)
    found = _read(directory / f"{number}.json")
    if found is not None:
        return found
    alias = _read_alias(directory / f"pr-{number}.json")
    if alias is not None:
        return _read(directory / f"{alias}.json")
    return _read(directory / f"pr-{number}.json")


def subjects(state_dir: Path, repo: str) -> Iterator[Subject]:
    """Every readable subject of one repo (unreadable files are logged and skipped)."""
    directory = repo_dir(state_dir, repo)
    if not directory.is_dir():
        return
    for path in sorted(directory.iterdir()):
        if not _SUBJECT.match(path.name):
            continue
        try:
            found = _read(path)
        except CorruptDecisions as exc:
            log.warning("skipping %s: %s", path, exc)
            continue
        if found is not None and found.decisions:
            yield found


def _read_alias(path: Path) -> int | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("issue")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def _read(path: Path) -> Subject | None:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CorruptDecisions(f"{path}: {exc}") from exc
    try:
        data = json.loads(raw)
        if "jobs" not in data:  # a PR alias
            return None
        decisions = {job: _decision(job, d) for job, d in data["jobs"].items()}
        return Subject(
            repo=str(data["repo"]),
            issue=data.get("issue"),
            pr=data.get("pr"),
            title=str(data.get("title") or ""),
            decisions=decisions,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptDecisions(f"{path}: {exc!r}") from exc


def _decision(job: str, data: Mapping[str, Any]) -> Decision:
    since = datetime.fromisoformat(data["since"])
    return Decision(
        job=job,
        code=str(data["code"]),
        words=str(data["words"]),
        since=since if since.tzinfo else since.replace(tzinfo=UTC),
        facts=dict(data.get("facts") or {}),
        pr=data.get("pr"),
    )


# --- open PRs (pr_monitor's view of its repo) ----------------------------------------------------------------


def note_open_prs(ctx: ContextLike, repo: str, numbers: Iterable[int]) -> None:
    """Remember the agent PRs open in `repo` now; written only when the set changed."""
    wanted = sorted(set(numbers))
    if open_prs(ctx.paths.state, repo) == wanted:
        return
    path = repo_dir(ctx.paths.state, repo) / OPEN_PRS
    data = {"repo": repo, "prs": wanted, "updated": ctx.clock().isoformat()}
    try:
        with locked(path.parent / ".write"):
            atomic_write_text(path, json.dumps(data) + "\n")
    except (OSError, StoreError) as exc:
        log.warning("open PRs not recorded repo=%s error=%s", repo, exc)


def open_prs(state_dir: Path, repo: str) -> list[int] | None:
    """The open agent PRs pr_monitor last saw in `repo`; None when it never recorded any."""
    try:
        data = json.loads((repo_dir(state_dir, repo) / OPEN_PRS).read_text(encoding="utf-8"))
        return [int(n) for n in data["prs"]]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("open PRs of %s unreadable: %s", repo, exc)
        return None


# --- bounds --------------------------------------------------------------------------------------------------


def _maybe_prune(state_dir: Path, now: datetime) -> None:
    stamp = state_dir / DIR / _PRUNE_STAMP
    try:
        last = stamp.stat().st_mtime
    except FileNotFoundError:
        last = 0.0
    if now.timestamp() - last < PRUNE_EVERY.total_seconds():
        return
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()
    os.utime(stamp, (now.timestamp(), now.timestamp()))
    prune(state_dir, now)


def prune(state_dir: Path, now: datetime, retention: timedelta = timedelta(days=RETENTION_DAYS)) -> int:
    """Delete subject and alias files untouched for `retention`; returns how many went."""
    root = state_dir / DIR
    if not root.is_dir():
        return 0
    cutoff = now.timestamp() - retention.total_seconds()
    removed = 0
    for directory in root.iterdir():
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            if _SUBJECT.match(path.name) and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
    if removed:
        log.info("pruned %d decision files older than %s days", removed, retention.days)
    return removed


# --- helpers -------------------------------------------------------------------------------------------------


def _small(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Facts made JSON-safe and short (they are shown, never parsed back into decisions)."""
    out: dict[str, Any] = {}
    for key, value in facts.items():
        if value is None or isinstance(value, bool | int | float):
            out[str(key)] = value
        elif isinstance(value, list | tuple):
            out[str(key)] = [str(v)[:MAX_FACT_CHARS] for v in value][:20]
        else:
            out[str(key)] = str(value)[:MAX_FACT_CHARS]
    return out


def _canonical(facts: Mapping[str, Any]) -> str:
    return json.dumps(facts, sort_keys=True, default=str)
