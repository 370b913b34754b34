"""The idle dispatcher tick on the floor: the last full tick's "nothing to do", kept with every input it read.

A dispatcher tick decides from the config, the kill switches, this host's mailbox and the boards. When a full
tick ends with nothing done and nothing that time alone could change — every repo on a Projects v2 board, no
issue Ready or In Progress on it, no task in this host's inbox or running, no per-repo cadence, the board read
settled — `remember` writes those inputs beside the config (`.config.yaml.idle`, mode 0600). The next cron
tick (`cron_tick.py`) calls `run_if_idle` before importing anything else: when the config, $HOME, the code,
the switches and the mailbox are exactly as remembered and one GraphQL query says no board changed (1 point,
the same probe a full tick makes), the answer is the same "nothing to do": the run is recorded and the process
exits, at about the cost of starting Python plus one request. Anything else — a difference, a failure, a
memo more than `MAX_AGE_S` old, a held lock — runs the full tick, which also writes a fresh memo.

Only the standard library and the light edge modules are imported here (http.client, json, fcntl): no config
parser, no dataclasses, no models.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from orchestrator.edges.flock import try_lock

if TYPE_CHECKING:
    from orchestrator.executors.tracker import Tracker
    from orchestrator.github.protocol import RequestStats
    from orchestrator.state.runtime import JobContext

FORMAT = 1
MAX_AGE_S = 600.0  # a full tick at least every 10 minutes, whatever the memo says
SETTLE_S = 5.0  # as the board snapshot (github/graphql.py): a board changed within 5 s may change unseen
CONFIG_ENV = "AGENT_OS_CONFIG"
JOB = "dispatcher"
_ORCHESTRATOR = Path(__file__).resolve().parents[1]
_CODE = (  # the modules whose behaviour the memo stands for: an upgrade that changes one invalidates it
    "control/idle_tick.py",
    "executors/tracker.py",
    "executors/remote_lease.py",
    "jobs/dispatcher.py",
    "jobs/entry.py",
    "policy/dispatch.py",
    "github/graphql.py",
    "github/queries.py",
    "config/schema.py",  # defaults the dispatcher reads
    "config/settings.py",
)


def memo_path(config_file: Path) -> Path:
    return config_file.with_name(f".{config_file.name}.idle")


# --- the full tick's side -----------------------------------------------------------------------------------
def remember(ctx: JobContext, acted: bool, tracker: Tracker) -> bool:
    """After a full tick (`acted`: it dispatched, asked, lost a claim, skipped or failed anything): keep its
    inputs when it was idle and will stay so while they do; else drop any memo. Returns whether one was written."""
    source = ctx.config.source
    if source is None:
        return False
    config_file = Path(source)
    memo = None if acted else _memo_of(ctx, tracker, config_file)
    if memo is None:
        memo_path(config_file).unlink(missing_ok=True)
        return False
    _write_private(memo_path(config_file), json.dumps(memo))
    return True


def _memo_of(ctx: JobContext, tracker: Tracker, config_file: Path) -> dict[str, Any] | None:
    from orchestrator.state.switches import Switches, is_allowed

    github = ctx.config.github
    if github.app is not None or github.token_env.startswith("vault:"):
        return None  # the fast path reads a token from the environment or runtime/secrets.env only
    state = Switches.load(ctx.paths.root).reload()
    if any(state.repo(r.key).cadence_minutes for r in ctx.config.repos):
        return None  # a per-repo cadence makes ticks differ by the clock
    dispatched = [r for r in ctx.config.repos if r.enabled and is_allowed(state, "dispatcher", r.key)[0]]
    if any(r.board.mode != "project" or not tracker.idle_on_board(r) for r in dispatched):
        return None  # labels mode polls per repo; or something was Ready / In Progress (or not read)
    stamps = tracker.probed_boards()
    now = time.time()
    if not stamps or any(stamp is None or now - _epoch(stamp) <= SETTLE_S for stamp in stamps.values()):
        return None
    if _has_tasks(ctx.paths.mailbox):
        return None
    switches = _text(ctx.paths.root / "state" / "switches.json")
    try:
        config_text = config_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return {
        "format": FORMAT,
        "written_at": now,
        "config": config_text,
        "home": os.environ.get("HOME"),
        "code": _code_stamp(),
        "switches": switches,
        "runtime": str(ctx.paths.root),
        "graphql_url": github.graphql_url,
        "token_env": github.token_env.removeprefix("env:"),
        "boards": stamps,
    }


# --- the next tick's side -----------------------------------------------------------------------------------
def run_if_idle(environ: Mapping[str, str]) -> str | None:
    """The message of an idle tick decided from the memo, or None: run the full tick."""
    config_file = Path(environ.get(CONFIG_ENV) or "config.yaml").expanduser().absolute()
    memo = _trusted_memo(config_file)
    if memo is None or not _inputs_unchanged(memo, config_file):
        return None
    token = _token(memo, environ)
    if not token:
        return None
    runtime = Path(memo["runtime"])
    lock = _try_lock(runtime / "locks" / f"{JOB}.lock")
    if lock is None:
        return None
    try:
        started = datetime.now(UTC)
        if not _boards_unchanged(memo, token):
            return None
        message = f"{JOB} finished (idle: no board changed, nothing queued)"
        _record(runtime, started, message)
        return message
    finally:
        os.close(lock)


def _trusted_memo(config_file: Path) -> dict[str, Any] | None:
    """The memo when this user wrote it and nobody else can change it (it names where the token goes)."""
    try:
        with open(memo_path(config_file), encoding="utf-8") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None
            memo = json.load(handle)
    except (OSError, ValueError):
        return None
    return memo if isinstance(memo, dict) and memo.get("format") == FORMAT else None


def _inputs_unchanged(memo: dict[str, Any], config_file: Path) -> bool:
    if not isinstance(memo.get("written_at"), int | float) or time.time() - memo["written_at"] > MAX_AGE_S:
        return False
    if memo.get("home") != os.environ.get("HOME") or memo.get("code") != _code_stamp():
        return False
    try:
        if config_file.read_text(encoding="utf-8") != memo.get("config"):
            return False
    except (OSError, UnicodeDecodeError):
        return False
    runtime = Path(str(memo.get("runtime")))
    if _text(runtime / "state" / "switches.json") != memo.get("switches"):
        return False
    return not _has_tasks(runtime / "mailbox")


def _token(memo: dict[str, Any], environ: Mapping[str, str]) -> str | None:
    name = str(memo.get("token_env") or "")
    value = environ.get(name, "").strip()
    if value:
        return value
    from orchestrator.state.env_file import EnvFileError, env_file_path, read_env_file

    try:
        return read_env_file(env_file_path(Path(memo["runtime"]))).get(name, "").strip() or None
    except EnvFileError:
        return None  # the full tick reports it


def _try_lock(path: Path) -> int | None:
    """The job's lock (the same flock the full tick takes), or None when another tick holds it or it cannot
    be taken here (the full tick then reports why)."""
    try:
        return try_lock(path)
    except OSError:
        return None


def _boards_unchanged(memo: dict[str, Any], token: str) -> bool:
    """One BOARDS_UPDATED_AT query: every board at the remembered `updatedAt`. Any failure: False."""
    from orchestrator.github.connection import Connections, SendFailed
    from orchestrator.github.queries import BOARDS_UPDATED_AT

    boards = memo.get("boards")
    if not isinstance(boards, dict) or not boards or len(boards) > 100:
        return False
    ids = list(boards)
    body = json.dumps({"query": BOARDS_UPDATED_AT, "variables": {"ids": ids}}).encode()
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/vnd.github+json",
        "Accept-Encoding": "gzip",
        "User-Agent": "agent-os",
    }
    connections = Connections(timeout=10)
    try:
        answer = connections.request("POST", str(memo["graphql_url"]), headers, body)
        data = json.loads(answer.text) if answer.status == 200 else None
    except (SendFailed, ValueError):
        return False
    finally:
        connections.close()
    if not isinstance(data, dict) or data.get("errors") or not isinstance(data.get("data"), dict):
        return False
    nodes = data["data"].get("nodes")
    if not isinstance(nodes, list) or len(nodes) != len(ids):
        return False
    return all(
        isinstance(n, dict) and n.get("updatedAt") == boards[i] for i, n in zip(ids, nodes, strict=True)
    )


def _record(runtime: Path, started: datetime, message: str) -> None:
    """The run in job_runs.json and its one GraphQL point in api_usage.json, as a full tick records them."""
    from orchestrator.views.job_run_record import record_job_run

    record_job_run(
        runtime / "state",
        JOB,
        started=started,
        finished=datetime.now(UTC),
        code=0,
        message=message,
        stats=_one_point(),
    )


def _one_point() -> RequestStats:
    """The idle tick's spend, with RequestStats' fields: one GraphQL query, 1 point. (RequestStats itself lives
    beside the models, which this path does not import.)"""
    from types import SimpleNamespace

    spent = SimpleNamespace(
        counted=0, not_modified=0, writes=0, graphql_points=1, retries=0, rate_remaining=None
    )
    return cast("RequestStats", spent)


# --- shared -------------------------------------------------------------------------------------------------
def _has_tasks(mailbox: Path) -> bool:
    for folder in ("inbox", "running"):
        try:
            if any(not name.startswith(".") for name in os.listdir(mailbox / folder)):
                return True
        except FileNotFoundError:
            continue
    return False


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return "<unreadable>"


def _code_stamp() -> list[list[Any]]:
    stamps: list[list[Any]] = []
    for name in _CODE:
        try:
            info = (_ORCHESTRATOR / name).stat()
        except FileNotFoundError:
            stamps.append([name, None, None])
            continue
        stamps.append([name, info.st_size, info.st_mtime_ns])
    return stamps


def _epoch(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")


def _write_private(path: Path, text: str) -> None:
    import tempfile  # the full tick's side only

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
