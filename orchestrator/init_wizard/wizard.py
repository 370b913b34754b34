"""`agentos init` from answers to a working setup: plan and check everything, then act, then write the config.

Order matters, so that a bad answer or an unreachable forge leaves nothing behind:
1. check: the merged config validates (with a placeholder board), the token variables are set, the LLM agent
   is configured, the repo/board/base branch are what the answers say (read-only forge calls);
2. draft the charter (agent in print mode, or templates) and pair Telegram — still nothing written;
3. act: create the repo and the board, then write config.yaml (validated, previous file backed up) at once,
   so that if a later step fails a re-run reuses both; then labels, the charter docs through a PR, the seed
   issues on the board, and the cron block if asked.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.agents import PrintModeFailed
from orchestrator.config import Config
from orchestrator.control import cron
from orchestrator.executors.task_runner import agent_spec
from orchestrator.github.auth import TokenAuth
from orchestrator.github.client import GitHubClient
from orchestrator.github.setup import GitHubSetup, RepoInfo, RepoSetup
from orchestrator.init_wizard import config_merge
from orchestrator.init_wizard.answers import InitAnswers
from orchestrator.init_wizard.charter import (
    Charter,
    CharterAnswerInvalid,
    CharterContext,
    llm_charter,
    template_charter,
)
from orchestrator.init_wizard.charter_pr import CharterOutcome, CommitIdentity, git_settings, publish_charter
from orchestrator.init_wizard.config_merge import BoardPlacement
from orchestrator.init_wizard.pairing import Pairing, pair
from orchestrator.init_wizard.seeding import SeedOutcome, ensure_workflow_labels, file_seed_issues

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STATUS_FIELD = "Status"


class InitFailed(Exception):
    """init cannot go on; the message names the flag (or the step) and the fix."""


@dataclass(frozen=True)
class InitReport:
    config_path: Path
    backup: Path | None
    repo: RepoInfo
    repo_created: bool
    board: BoardPlacement
    charter: Charter | None
    charter_pr: CharterOutcome | None
    seeds: SeedOutcome | None
    telegram: Pairing | None
    cron_block: str | None


@dataclass(frozen=True)
class _Plan:
    """Everything init checked before acting."""

    answers: InitAnswers  # base_branch resolved
    draft: Config
    token: str
    repo: RepoInfo | None  # None: to be created
    viewer: str
    board: BoardPlacement  # number None: to be created


def run_init(
    answers: InitAnswers,
    config_path: Path,
    existing: Mapping[str, Any],
    say: Callable[[str], None],
    environ: Mapping[str, str],
    now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
) -> InitReport:
    draft = _validated_draft(answers, config_path, existing)
    token = _env_value(environ, answers.token_env, "--token-env", "the GitHub token")
    forge: RepoSetup = GitHubSetup(
        answers.api_url,
        draft.github.graphql_url,
        token,
        answers.token_env,
        seconds_between_writes=answers.seconds_between_writes,
    )
    try:
        plan = _plan(forge, answers, draft, token, existing)
        charter = _draft_charter(plan, say, environ) if answers.charter else None
        pairing = _pair_telegram(answers, environ, say)
        answers = _with_pairing(plan.answers, pairing)
        repo, created, board = _act_on_forge(forge, plan, say)
    finally:
        forge.close()
    # Written as soon as the repo and board exist: should a later step fail, a re-run reuses both.
    backup = _write_config(config_path, existing, answers, board, now(), say)
    _save_secrets_for_cron(draft, environ, say)
    charter_pr, seeds = _publish(plan, repo, board, charter, say) if charter else (None, None)
    block = _install_cron(config_path, draft.runtime_dir, say) if answers.cron else None
    return InitReport(config_path, backup, repo, created, board, charter, charter_pr, seeds, pairing, block)


def _write_config(
    path: Path,
    existing: Mapping[str, Any],
    answers: InitAnswers,
    board: BoardPlacement,
    when: datetime,
    say: Callable[[str], None],
) -> Path | None:
    if config_merge.has_repo(existing, answers.repo_key):
        say(f"config: the repo {answers.repo_key} was already configured; its entry is kept as it is")
    backup = config_merge.write_config(path, config_merge.merge(existing, answers, board), when)
    say(f"config: wrote {path}" + (f" (previous version: {backup.name})" if backup else ""))
    return backup


# --- 1. check ----------------------------------------------------------------------------------------------


def _validated_draft(answers: InitAnswers, config_path: Path, existing: Mapping[str, Any]) -> Config:
    placeholder = BoardPlacement(answers.board_mode, answers.board_owner, answers.board_number or 1)
    data = config_merge.merge(existing, _with_placeholder_ids(answers), placeholder)
    return config_merge.validate(config_merge.render(data, datetime.now().astimezone(), None), config_path)


def _with_placeholder_ids(answers: InitAnswers) -> InitAnswers:
    """Telegram ids are not known before pairing; validate with stand-ins (the lists must not be empty)."""
    if answers.telegram is None or answers.telegram.chat_id is not None:
        return answers
    return replace(answers, telegram=replace(answers.telegram, chat_id=1, user_id=1))


def _env_value(environ: Mapping[str, str], name: str, flag: str, what: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise InitFailed(
            f"{flag}: the environment variable {name} (holding {what}) is empty or not set: export it"
        )
    return value


def _plan(
    forge: RepoSetup, answers: InitAnswers, draft: Config, token: str, existing: Mapping[str, Any]
) -> _Plan:
    viewer = forge.viewer_login()
    repo = forge.get_repo(answers.full_name)
    if repo is not None and answers.repo_mode == "create":
        raise InitFailed(
            f"--repo: {answers.full_name} already exists; adopt it with --repo-mode adopt (or auto)"
        )
    if repo is None and answers.repo_mode == "adopt":
        raise InitFailed(
            f"--repo: {answers.full_name} does not exist (or the token in ${answers.token_env} cannot see it); "
            "create it with --repo-mode create (or auto)"
        )
    base = answers.base_branch or (repo.default_branch if repo is not None else "main")
    if repo is not None:
        branches = forge.branches(repo.full_name)
        if branches and base not in branches:
            raise InitFailed(
                f"--base-branch: {repo.full_name} has no branch {base!r} (branches: {', '.join(branches[:10])})"
            )
    return _Plan(
        replace(answers, base_branch=base), draft, token, repo, viewer, _plan_board(forge, answers, existing)
    )


def _plan_board(forge: RepoSetup, answers: InitAnswers, existing: Mapping[str, Any]) -> BoardPlacement:
    """The board: the one the config already has for this repo key (a re-run reuses it), else the answers'."""
    placement = _configured_board(existing, answers.repo_key)
    if placement is None and answers.board_mode == "labels":
        placement = BoardPlacement("labels", None, None)
    if placement is None:
        placement = BoardPlacement("project", answers.board_owner or answers.repo_owner, answers.board_number)
    if placement.mode == "project" and placement.number is not None:
        forge.check_board(placement.owner or answers.repo_owner, placement.number, STATUS_FIELD)
    return placement


def _configured_board(existing: Mapping[str, Any], key: str) -> BoardPlacement | None:
    for entry in existing.get("repos") or []:
        if isinstance(entry, Mapping) and str(entry.get("key") or entry.get("name")) == key:
            raw = entry.get("board")
            board: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
            if board.get("mode", "project") == "labels":
                return BoardPlacement("labels", None, None)
            number = board.get("project_number", 1)
            owner = board.get("owner") or entry.get("owner")
            return BoardPlacement("project", str(owner), number if isinstance(number, int) else 1)
    return None


# --- 2. draft ----------------------------------------------------------------------------------------------


def _charter_context(answers: InitAnswers) -> CharterContext:
    return CharterContext(
        name=answers.repo_name,
        full_name=answers.full_name,
        what=answers.what,
        test_command=answers.test_command,
        base_branch=answers.base_branch or "main",
        sprint_days=answers.sprint_days,
    )


def _draft_charter(plan: _Plan, say: Callable[[str], None], environ: Mapping[str, str]) -> Charter:
    ctx = _charter_context(plan.answers)
    name = plan.answers.llm_agent
    if name is None:
        return template_charter(ctx)
    say(f"charter: asking the agent {name} (print mode) …")
    run_dir = (
        plan.draft.runtime_dir
        / "agent-runs"
        / f"init-{datetime.now().astimezone().strftime('%Y%m%d-%H%M%S')}"
    )
    try:
        return llm_charter(ctx, agent_spec(plan.draft.agents[name]), run_dir, environ)
    except (PrintModeFailed, CharterAnswerInvalid) as exc:
        say(f"charter: the agent {name} gave no usable charter ({exc}); using the templates instead")
        return template_charter(ctx)


def _pair_telegram(
    answers: InitAnswers, environ: Mapping[str, str], say: Callable[[str], None]
) -> Pairing | None:
    tg = answers.telegram
    if tg is None or tg.chat_id is not None:
        return None
    token = _env_value(environ, tg.token_env, "--telegram-token-env", "the Telegram bot token")
    pairing = pair(token, tg.api_url, tg.pair_timeout_s, say)
    say(
        f"telegram: paired with {pairing.username or 'user'} (user id {pairing.user_id}, chat id {pairing.chat_id})"
    )
    return pairing


def _with_pairing(answers: InitAnswers, pairing: Pairing | None) -> InitAnswers:
    if pairing is None or answers.telegram is None:
        return answers
    return replace(
        answers, telegram=replace(answers.telegram, chat_id=pairing.chat_id, user_id=pairing.user_id)
    )


# --- 3. act ------------------------------------------------------------------------------------------------


def _act_on_forge(
    forge: RepoSetup, plan: _Plan, say: Callable[[str], None]
) -> tuple[RepoInfo, bool, BoardPlacement]:
    answers = plan.answers
    repo, created = plan.repo, False
    if repo is None:
        repo = forge.create_repo(
            answers.repo_owner,
            answers.repo_name,
            viewer=plan.viewer,
            private=answers.private,
            description=answers.what.splitlines()[0],
        )
        created = True
        say(f"repo: created {repo.full_name} ({'private' if repo.private else 'public'})")
    else:
        say(f"repo: adopted {repo.full_name}")
    board = plan.board
    if board.mode == "project" and board.number is None:
        owner = board.owner or answers.repo_owner
        made = forge.create_board(owner, f"{answers.repo_name} — Agent OS", STATUS_FIELD)
        board = BoardPlacement("project", owner, made.number)
        say(f"board: created project {owner}#{made.number} with a Status field for the workflow")
    elif board.mode == "project":
        say(f"board: using project {board.owner}#{board.number}")
    else:
        say("board: labels mode")
    return repo, created, board


def _client(plan: _Plan) -> GitHubClient:
    auth = TokenAuth(plan.token, source=f"the token in ${plan.answers.token_env}")
    return GitHubClient(
        plan.answers.api_url,
        plan.draft.github.graphql_url,
        auth,
        None,
        seconds_between_writes=plan.answers.seconds_between_writes,
    )


def _publish(
    plan: _Plan, repo: RepoInfo, board: BoardPlacement, charter: Charter, say: Callable[[str], None]
) -> tuple[CharterOutcome, SeedOutcome]:
    answers = plan.answers
    client = _client(plan)
    try:
        ensure_workflow_labels(client, repo.full_name, labels_mode=board.mode == "labels")
        identity = CommitIdentity(plan.draft.git.author_name, plan.draft.git.author_email)
        with tempfile.TemporaryDirectory(prefix="agentos-init-") as work:
            outcome = publish_charter(
                client,
                repo,
                answers.base_branch or "main",
                charter,
                _charter_context(answers),
                identity,
                git_settings(repo.clone_url, plan.token),
                Path(work) / "repo",
            )
        say(_charter_line(outcome, answers.base_branch or "main"))
        live_board = (
            client.get_board(board.owner or answers.repo_owner, board.number, STATUS_FIELD)
            if board.mode == "project" and board.number is not None
            else None
        )
        seeds = file_seed_issues(client, repo.full_name, charter.issues, live_board, ready=answers.seed_ready)
        say(seeds.summary)
        return outcome, seeds
    finally:
        client.close()


def _charter_line(outcome: CharterOutcome, base: str) -> str:
    prefix = (
        f"charter: the empty repo's first commit created {base}; " if outcome.created_base else "charter: "
    )
    if outcome.branch_existed:
        where = f"PR #{outcome.pull.number}" if outcome.pull else "its branch"
        return prefix + f"an earlier run's charter is already in {where}; nothing pushed"
    if outcome.pull is None:
        return prefix + f"every charter doc is already in {base}; kept as it is"
    kept = f" (kept as they were: {', '.join(outcome.kept)})" if outcome.kept else ""
    return prefix + f"{', '.join(outcome.written)} in PR #{outcome.pull.number}{kept}"


# --- 4. cron -----------------------------------------------------------------------------------------------


def _save_secrets_for_cron(config: Config, environ: Mapping[str, str], say: Callable[[str], None]) -> None:
    """Cron never sees this shell's exports: the secrets the config names go to runtime/secrets.env (0600)."""
    from orchestrator.control.cron_check import named_secrets
    from orchestrator.state.env_file import EnvFileError, env_file_path, save_from_environment

    path = env_file_path(config.runtime_dir)
    try:
        saved = save_from_environment(path, named_secrets(config), environ)
    except EnvFileError as exc:
        raise InitFailed(f"the config was written, but the secrets for cron were not: {exc}") from exc
    if saved:
        say(f"secrets: saved {', '.join(saved)} in {path} (mode 0600); cron jobs read them there")


def _install_cron(config_path: Path, runtime_dir: Path, say: Callable[[str], None]) -> str:
    try:
        block = cron.install(PROJECT_ROOT, config_path.resolve(), runtime_dir)
    except cron.CronError as exc:
        raise InitFailed(f"--cron: the config was written, but the cron block was not: {exc}") from exc
    say("cron: installed the Agent OS block in the crontab")
    return block
