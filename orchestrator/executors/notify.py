"""Notifications: the one module every job uses to tell a human something.

`Notifier.notify(kind, text, key=..., buttons=..., severity=...)` always writes the (redacted) text to the log,
then — when a `Sender` is configured (Telegram) — sends it unless it is a duplicate (same key within the
dedup window: dropped and counted) or over the rate limit (held back; the held messages are summarised in one
message later, by the next `notify` that may send or by `flush`). Dedup and rate state live in
`runtime/state/notify.json` so separate cron processes share them.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.state.store import update_json
from orchestrator.telegram.bot_api import Button as Button
from orchestrator.telegram.bot_api import SendFailed as SendFailed

if TYPE_CHECKING:
    from orchestrator.config import Config
    from orchestrator.state.runtime import JobContext

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 64  # Telegram's limit for callback_data
SEVERITIES = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_SEVERITY_PREFIX = {"info": "", "warning": "⚠️ ", "error": "🛑 "}
_SAMPLES_KEPT = 3


class Sender(Protocol):
    def send(self, text: str, buttons: Sequence[Button]) -> None:
        """Deliver one message; raise SendFailed when it cannot."""


class Outcome(StrEnum):
    SENT = "sent"
    LOGGED = "logged"  # no sender configured: the log is the only destination
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"
    SEND_FAILED = "send_failed"


@dataclass(frozen=True)
class NotifyLimits:
    dedup_window: timedelta = timedelta(hours=1)
    per_minute: int = 10


@dataclass(frozen=True)
class _Decision:
    outcome: Outcome
    note: str = ""  # appended to the message: repeats seen, held-back summary


class Notifier:
    def __init__(
        self,
        runtime_dir: Path,
        sender: Sender | None,
        redact: Callable[[str], str],
        clock: Callable[[], datetime],
        limits: NotifyLimits | None = None,
    ) -> None:
        self.path = Path(runtime_dir) / "state" / "notify.json"
        self._sender = sender
        self._redact = redact
        self._clock = clock
        self._limits = limits or NotifyLimits()

    @classmethod
    def from_config(
        cls,
        config: Config,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Notifier:
        """The notifier every job uses: Telegram when enabled (and its token is set), else the log only."""
        from orchestrator.security.redact import default_redactor
        from orchestrator.telegram.bot_api import TelegramConfigError, TelegramSender, token_from_env

        env = os.environ if environ is None else environ
        redactor = default_redactor(environ=env)
        sender: Sender | None = None
        if config.telegram.enabled:
            try:
                token = token_from_env(config.telegram.token_env, env)
            except TelegramConfigError as exc:
                log.error("notifications go to the log only: %s", exc)
            else:
                redactor.add(token)
                sender = TelegramSender(token, config.telegram.api_url, config.telegram.allowed_chat_ids)
        # what we send may carry an agent's words: known credentials are redacted in disguise too
        return cls(config.runtime_dir, sender, redactor.redact_published, clock or _utc_now)

    @classmethod
    def for_context(cls, ctx: JobContext) -> Notifier:
        return cls.from_config(ctx.config, ctx.environ, ctx.clock)

    def escalation(self, text: str, buttons: Sequence[Button] = ()) -> None:
        """The NotifyFn of escalations (queue, pr_monitor): a warning with its Retry / Close buttons."""
        self.notify("escalation", text, buttons=buttons, severity="warning")

    def notify(
        self,
        kind: str,
        text: str,
        *,
        key: str | None = None,
        buttons: Sequence[Button] = (),
        severity: str = "info",
    ) -> Outcome:
        if severity not in SEVERITIES:
            raise ValueError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
        _check_buttons(buttons)
        clean = self._redact(text)
        clean_buttons = tuple((self._redact(label), data) for label, data in buttons)
        log.log(SEVERITIES[severity], "notification kind=%s key=%s: %s", kind, key or "-", clean)
        if self._sender is None:
            return Outcome.LOGGED
        dedup_key = key or f"{kind}:{hashlib.sha256(clean.encode()).hexdigest()[:16]}"
        decision = self._decide(dedup_key, kind, clean)
        if decision.outcome is not Outcome.SENT:
            log.info("notification %s not sent: %s", dedup_key, decision.outcome.value)
            return decision.outcome
        message = _SEVERITY_PREFIX[severity] + clean + decision.note
        return self._send(message, clean_buttons)

    def flush(self) -> Outcome | None:
        """Send the summary of rate-limited messages if there is one and the rate allows it now."""
        if self._sender is None:
            return None
        now = self._clock()
        summary: list[str] = []

        def take_summary(data: Any) -> dict[str, Any]:
            state = _prune(data, now, self._limits)
            if state["held"]["count"] and len(state["sent"]) < self._limits.per_minute:
                summary.append(_held_summary(state["held"]))
                state["held"] = _empty_held()
                state["sent"].append(now.isoformat())
            return state

        update_json(self.path, take_summary)
        return self._send(summary[0].lstrip(), ()) if summary else None

    def _decide(self, key: str, kind: str, text: str) -> _Decision:
        now = self._clock()
        decisions: list[_Decision] = []

        def apply(data: Any) -> dict[str, Any]:
            state = _prune(data, now, self._limits)
            decisions.append(_decide_in_state(state, now, key, kind, text, self._limits))
            return state

        update_json(self.path, apply)
        return decisions[0]

    def _send(self, text: str, buttons: Sequence[Button]) -> Outcome:
        assert self._sender is not None
        try:
            self._sender.send(text, buttons)
        except SendFailed as exc:
            log.warning("notification could not be sent: %s", self._redact(str(exc)))
            return Outcome.SEND_FAILED
        return Outcome.SENT


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _decide_in_state(
    state: dict[str, Any], now: datetime, key: str, kind: str, text: str, limits: NotifyLimits
) -> _Decision:
    """Mutate `state` for one notification and say what to do with it."""
    entry = state["dedup"].get(key)
    if entry is not None and now - datetime.fromisoformat(entry["at"]) < limits.dedup_window:
        entry["dropped"] += 1
        return _Decision(Outcome.DUPLICATE)
    repeats = entry["dropped"] if entry is not None else 0
    state["dedup"][key] = {"at": now.isoformat(), "dropped": 0}
    if len(state["sent"]) >= limits.per_minute:
        held = state["held"]
        held["count"] += 1
        held["kinds"][kind] = held["kinds"].get(kind, 0) + 1
        held["since"] = held["since"] or now.isoformat()
        if len(held["samples"]) < _SAMPLES_KEPT:
            held["samples"].append(text.splitlines()[0][:120] if text else kind)
        return _Decision(Outcome.RATE_LIMITED)
    state["sent"].append(now.isoformat())
    note = f"\n(repeated {repeats} more times in the previous window)" if repeats else ""
    if state["held"]["count"]:
        note += _held_summary(state["held"])
        state["held"] = _empty_held()
    return _Decision(Outcome.SENT, note)


def _held_summary(held: dict[str, Any]) -> str:
    kinds = ", ".join(f"{kind}×{count}" for kind, count in sorted(held["kinds"].items()))
    samples = "".join(f"\n • {sample}" for sample in held["samples"])
    more = held["count"] - len(held["samples"])
    tail = f"\n • … and {more} more (see the logs)" if more > 0 else ""
    plural = "s" if held["count"] != 1 else ""
    return f"\n\n{held['count']} notification{plural} held back by the rate limit since {held['since']}: {kinds}{samples}{tail}"


def _empty_held() -> dict[str, Any]:
    return {"count": 0, "kinds": {}, "samples": [], "since": None}


def _prune(data: Any, now: datetime, limits: NotifyLimits) -> dict[str, Any]:
    """The state with sends older than a minute and dedup entries older than two windows dropped."""
    state = data if isinstance(data, dict) else {}
    minute_ago = now - timedelta(minutes=1)
    state["sent"] = [at for at in state.get("sent", []) if datetime.fromisoformat(at) > minute_ago]
    horizon = now - 2 * limits.dedup_window
    state["dedup"] = {
        key: entry
        for key, entry in state.get("dedup", {}).items()
        if datetime.fromisoformat(entry["at"]) > horizon
    }
    state.setdefault("held", _empty_held())
    return state


def _check_buttons(buttons: Sequence[Button]) -> None:
    for label, data in buttons:
        if not label or not data or len(data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(
                f"button ({label!r}, {data!r}) needs a label and 1–{MAX_CALLBACK_BYTES} bytes of data"
            )
