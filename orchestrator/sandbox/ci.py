"""Sandbox CI: run a repo's test command on each open PR head merged into its base; report a check run.

A PR opening, or a push moving its head, queues one run (check run "sandbox-ci": queued → in_progress →
completed). At most `workers` runs at once, each in a fresh local clone under DATA_DIR/ci/run-N/checkout.
The command runs through the forge's `CIRunner` (ci_runner.py) — the only way the forge runs pushed code:
`ContainedCI` (a bubblewrap sandbox) wherever agent-written code may be pushed, `PlainCI` (not a sandbox)
by default. A runner that refuses (no sandbox here) concludes the run `failure`, saying why. A repo without
a CI command gets no checks.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.edges.process import ProcessError, ProcessResult, run, tail
from orchestrator.sandbox.ci_runner import CIRunner, CIRunRefused, PlainCI
from orchestrator.sandbox.core import ForgeCore, Repo
from orchestrator.sandbox.db import utc_now
from orchestrator.sandbox.gitrepo import GitError, Identity
from orchestrator.sandbox.routes_checks import CheckStore

log = logging.getLogger(__name__)

CHECK_NAME = "sandbox-ci"
LOG_TAIL_CHARS = 16 * 1024
CI_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class CIJob:
    repo_id: int
    issue_id: int
    head_sha: str
    run_id: int


@dataclass(frozen=True)
class CIOutcome:
    conclusion: str  # "success" | "failure" | "timed_out"
    title: str
    summary: str
    log: str


class SandboxCI:
    def __init__(
        self,
        core: ForgeCore,
        workers: int = 2,
        timeout: float = CI_TIMEOUT_SECONDS,
        runner: CIRunner | None = None,
    ) -> None:
        self.core = core
        self.runner: CIRunner = runner if runner is not None else PlainCI()
        self.store = CheckStore(core)
        self.workers = workers
        self.timeout = timeout
        self._queue: queue.Queue[CIJob | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._pending = 0
        self._idle = threading.Condition()
        core.pull_head_listeners.append(self.on_pull_head)

    def start(self) -> None:
        self._requeue_unfinished()
        for index in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"sandbox-ci-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, grace: float = 5.0) -> bool:
        """Ask the workers to finish; False when a run was still going after `grace` seconds (left behind as
        a daemon thread: its check run stays unfinished and is queued again when a forge next starts)."""
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        stopped = not any(thread.is_alive() for thread in self._threads)
        self._threads.clear()
        return stopped

    def wait_idle(self, timeout: float) -> None:
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout=timeout):
                raise TimeoutError(f"sandbox CI still has {self._pending} run(s) after {timeout} s")

    def is_idle(self) -> bool:
        with self._idle:
            return self._pending == 0

    def on_pull_head(self, repo: Repo, issue_id: int, sha: str) -> None:
        """Queue a run for a PR's new head (when the repo has a CI command)."""
        current = self.core.repo_by_id(repo.id)
        if not current.ci_command:
            return
        run_id = self.store.create_run(
            current, {"head_sha": sha, "name": CHECK_NAME, "status": "queued", "external_id": str(issue_id)}
        )
        self._submit(CIJob(repo.id, issue_id, sha, run_id))

    def _requeue_unfinished(self) -> None:
        """Runs a previous server process left queued or in progress start again (external_id = PR issue id)."""
        rows = self.core.db.all(
            "SELECT id, repo_id, head_sha, external_id FROM check_runs WHERE name = ? AND status != 'completed'",
            (CHECK_NAME,),
        )
        for row in rows:
            self.store.update_run(row["id"], {"status": "queued"})
            self._submit(CIJob(row["repo_id"], int(row["external_id"]), row["head_sha"], row["id"]))

    def _submit(self, job: CIJob) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(job)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self._run_job(job)
            except CIRunRefused as exc:
                log.error("sandbox CI run %s refused: %s", job.run_id, exc)
                self._complete(
                    job, CIOutcome("failure", "CI not run: its sandbox is unavailable", str(exc), "")
                )
            except (GitError, ProcessError, OSError) as exc:
                log.exception("sandbox CI run %s failed to run", job.run_id)
                self._complete(job, CIOutcome("failure", "CI could not run", str(exc), ""))
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _run_job(self, job: CIJob) -> None:
        repo = self.core.repo_by_id(job.repo_id)
        self.store.update_run(job.run_id, {"status": "in_progress", "started_at": utc_now()})
        directory = self.core.data_dir / "ci" / f"run-{job.run_id}"
        try:
            note, commit = self._merge_commit(repo, job)
            outcome = self._test(repo, directory, commit, note)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        self._complete(job, outcome)

    def _merge_commit(self, repo: Repo, job: CIJob) -> tuple[str, str]:
        """The commit to test: the head merged into its base's tip (the head alone on a conflict)."""
        row = self.core.db.one("SELECT base_ref FROM pulls WHERE issue_id = ?", (job.issue_id,))
        bare = self.core.bare(repo)
        base_sha = bare.resolve(row["base_ref"]) if row else None
        if row is None or base_sha is None:
            return "The base branch is gone; tested the head alone.", job.head_sha
        tree = bare.merge_tree(base_sha, job.head_sha)
        if tree is None:
            return f"The head conflicts with {row['base_ref']}; tested the head alone.", job.head_sha
        message = f"Sandbox CI merge of {job.head_sha[:12]} into {base_sha[:12]}"
        merged = bare.commit_tree(
            tree, [base_sha, job.head_sha], message, Identity("Sandbox CI", "ci@sandbox")
        )
        return f"Tested {job.head_sha[:12]} merged into {row['base_ref']} ({base_sha[:12]}).", merged

    def _test(self, repo: Repo, directory: Path, commit: str, note: str) -> CIOutcome:
        """Check out `commit` in DIRECTORY/checkout and run the CI command there through the runner.

        DIRECTORY is ours only (0700): what the pushed code leaves in the checkout while it runs — a set-user-ID
        file owned by us, made inside the sandbox — is out of reach of the host's other users until the
        directory is removed after the run."""
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, mode=0o700)
        directory.chmod(0o700)  # whatever the umask
        workdir = directory / "checkout"
        self._checkout(repo, workdir, commit)
        command = repo.ci_command or "true"
        note = f"{note}\nRan {self.runner.describe()}."
        started = time.monotonic()
        result = self.runner.run(command, workdir, directory / "private", self.timeout)
        elapsed = time.monotonic() - started
        log_text = tail(result.stdout + result.stderr, LOG_TAIL_CHARS)
        if result.timed_out:
            return CIOutcome("timed_out", f"Timed out after {self.timeout:.0f} s", note, log_text)
        if result.ok:
            return CIOutcome(
                "success", "Tests passed", f"{note}\n`{command}` passed in {elapsed:.1f} s.", log_text
            )
        title = f"Tests failed (exit {result.returncode})"
        return CIOutcome("failure", title, f"{note}\n`{command}` exited {result.returncode}.", log_text)

    def _checkout(self, repo: Repo, workdir: Path, commit: str) -> None:
        """A self-contained clone (objects hard-linked, no alternates): git works in it wherever it runs,
        without showing the forge's repository to the command."""
        bare = self.core.bare(repo)
        _checked(run(["git", "clone", "-q", "--no-checkout", str(bare.path), str(workdir)], timeout=120))
        _checked(run(["git", "-C", str(workdir), "checkout", "-q", "--detach", commit], timeout=120))

    def _complete(self, job: CIJob, outcome: CIOutcome) -> None:
        self.store.update_run(
            job.run_id,
            {
                "status": "completed",
                "conclusion": outcome.conclusion,
                "completed_at": utc_now(),
                "output_title": outcome.title,
                "output_summary": outcome.summary,
                "output_text": "```\n" + outcome.log + "\n```" if outcome.log else "",
            },
        )
        log.info("sandbox CI run %s: %s", job.run_id, outcome.conclusion)
        self.core.checks_changed(self.core.repo_by_id(job.repo_id), job.head_sha)


def _checked(result: ProcessResult) -> None:
    if not result.ok:
        raise GitError(f"{' '.join(result.argv)}: {result.stderr.strip()}")
