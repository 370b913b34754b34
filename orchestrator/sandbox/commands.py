"""`agentos sandbox serve` and `agentos sandbox seed`: run the local forge, and fill it with a repo to work on."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from orchestrator.sandbox.ci_runner import CIRunner

DEFAULT_DATA_DIR = Path("runtime/sandbox")


def register(subparsers: argparse._SubParsersAction, ci_runner: Callable[[str], CIRunner]) -> None:
    """`ci_runner(mode)` builds the runner of the forge's CI for `--ci-isolation MODE` (bwrap | none): the
    caller passes orchestrator.containment.forge_ci.forge_ci_runner (this package may not import it)."""
    serve = subparsers.add_parser("serve", help="run the sandbox forge until interrupted")
    serve.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free one)")
    serve.add_argument(
        "--data", type=Path, default=DEFAULT_DATA_DIR, help="state directory (default: %(default)s)"
    )
    serve.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a certificate of the forge's own CA (DATA/ca.pem: trust it in your clients)",
    )
    serve.add_argument(
        "--file-remotes",
        action="store_true",
        help="hand out file:// clone URLs instead of git over HTTP(S) with a token",
    )
    serve.add_argument(
        "--ci-isolation",
        choices=("bwrap", "none"),
        default="bwrap",
        help="how the CI runs pushed code: in a bubblewrap sandbox without network (default), or unsandboxed "
        "(`none`: only for trees you trust)",
    )
    serve.set_defaults(func=cmd_serve, ci_runner=ci_runner)

    seed = subparsers.add_parser("seed", help="create a repo, issues and a board on a running sandbox forge")
    where = seed.add_mutually_exclusive_group()
    where.add_argument("--url", help="the forge's URL (http://127.0.0.1:P)")
    where.add_argument(
        "--data", type=Path, default=DEFAULT_DATA_DIR, help="find the forge via DIR/server.json"
    )
    seed.add_argument("--token", help="API token (default: DIR/token of --data)")
    seed.add_argument("--ca-bundle", help="CA file of a forge serving HTTPS (default: from DIR/server.json)")
    seed.add_argument("--repo", required=True, help="owner/name")
    seed.add_argument("--from", dest="source", type=Path, help="a local directory pushed as the first commit")
    seed.add_argument(
        "--ref",
        help="--from is a git repository: push its history up to this revision as main (seed_git.py)",
    )
    seed.add_argument("--ci-command", help="the sandbox CI test command for pull requests")
    seed.add_argument("--issues", type=Path, help="a YAML list of {title, body, labels, status}")
    seed.add_argument("--board", action="store_true", help="create a Projects v2 board with the issues on it")
    seed.set_defaults(func=cmd_seed)


def cmd_serve(args: argparse.Namespace) -> int:
    from orchestrator.sandbox.server import SandboxForge

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    runner = args.ci_runner(args.ci_isolation)
    forge = SandboxForge(
        args.data, port=args.port, tls=args.tls, file_remotes=args.file_remotes, ci_runner=runner
    ).start()
    try:
        print(f"listening on {forge.url}", flush=True)
        print(f"admin token written to {args.data / 'token'}", flush=True)
        if forge.ca_bundle:
            print(f"CA certificate written to {forge.ca_bundle} (SSL_CERT_FILE / GIT_SSL_CAINFO)", flush=True)
        print(f"the CI runs pushed code: {runner.describe()}", flush=True)
        stop.wait()
    finally:
        forge.stop()
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from orchestrator.sandbox.seed import SeedError, load_issues, seed_repo

    try:
        url, token, ca_bundle = _locate(args)
        issues = load_issues(args.issues) if args.issues else []
        if args.ref is not None:
            result = _seed_git(args, url, token, issues, ca_bundle)
        else:
            result = seed_repo(
                url + "/api/v3",
                token,
                args.repo,
                source_dir=args.source,
                ci_command=args.ci_command,
                issues=issues,
                board=args.board,
                ca_bundle=ca_bundle,
            )
    except (SeedError, OSError) as exc:
        print(f"sandbox seed: {exc}", file=sys.stderr)
        return 1
    print(f"seeded {result.repo}: clone {result.clone_url}")
    if result.issue_numbers:
        print(f"issues: {', '.join(f'#{n}' for n in result.issue_numbers)}")
    if result.project_number is not None:
        print(f"board: project #{result.project_number}")
    return 0


def _seed_git(
    args: argparse.Namespace, url: str, token: str, issues: list[Any], ca_bundle: str | None
) -> Any:
    from orchestrator.sandbox.seed import SeedError
    from orchestrator.sandbox.seed_git import seed_from_git

    if args.source is None:
        raise SeedError("--ref needs --from PATH (the git repository to take the history from)")
    return seed_from_git(
        url + "/api/v3",
        token,
        args.repo,
        args.source,
        args.ref,
        ci_command=args.ci_command,
        issues=issues,
        board=args.board,
        ca_bundle=ca_bundle,
    )


def _locate(args: argparse.Namespace) -> tuple[str, str, str | None]:
    """(forge URL, token, CA file or None) from --url/--token/--ca-bundle or from the data directory of a
    running forge."""
    from orchestrator.sandbox.seed import SeedError

    data: Path = args.data
    url = args.url
    ca_bundle = args.ca_bundle
    if url is None:
        server_file = data / "server.json"
        if not server_file.exists():
            raise SeedError(
                f"no running forge found: {server_file} is missing (start `agentos sandbox serve`)"
            )
        server = json.loads(server_file.read_text())
        url = server["url"]
        ca_bundle = ca_bundle or server.get("ca_bundle")
    token = args.token
    if token is None:
        token_file = data / "token"
        if not token_file.exists():
            raise SeedError(f"no token: pass --token or --data DIR with DIR/token ({token_file} is missing)")
        token = token_file.read_text().strip()
    return str(url).rstrip("/"), str(token), ca_bundle
