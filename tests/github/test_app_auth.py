"""GitHub App auth: PyGithub mints an installation token (JWT signed with the app key), renewed on 401/expiry."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from orchestrator.github.auth import AppAuth
from orchestrator.github.client import GitHubClient
from orchestrator.github.errors import BadCredentials, NotFound
from tests.github.conftest import FakeSleep, Reply, ScriptedServer, Seen

ACCESS_TOKENS = "/api/v3/app/installations/42/access_tokens"
ISSUE = "/api/v3/repos/o/r/issues/1"


@pytest.fixture
def app_key(tmp_path: Path) -> tuple[Path, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "app.pem"
    path.write_bytes(pem)
    return path, key.public_key()


def token_minter(public_key: rsa.RSAPublicKey, minted: list[str]) -> object:
    def mint(seen: Seen) -> Reply:
        scheme, _, signed = seen.headers["Authorization"].partition(" ")
        claims = jwt.decode(signed, public_key, algorithms=["RS256"])  # a real signature check
        assert scheme == "Bearer" and claims["iss"] == "777"
        token = f"ghs_token{len(minted) + 1}"
        minted.append(token)
        return Reply(201, {"token": token, "expires_at": "2099-01-01T00:00:00Z", "permissions": {}})

    return mint


def client_for(server: ScriptedServer, auth: AppAuth, fake_time: FakeSleep) -> GitHubClient:
    api = server.url + "/api/v3"
    return GitHubClient(
        api, server.url + "/api/graphql", auth, None, sleep=fake_time.sleep, clock=fake_time.clock
    )


def test_installation_token_is_minted_once_and_used(
    server: ScriptedServer, app_key: tuple[Path, rsa.RSAPublicKey], fake_time: FakeSleep
) -> None:
    from tests.github import payloads

    minted: list[str] = []
    server.handle("POST", ACCESS_TOKENS, token_minter(app_key[1], minted))  # type: ignore[arg-type]
    server.script("GET", ISSUE, Reply(200, payloads.issue(1)))
    client = client_for(server, AppAuth(777, app_key[0], 42, server.url + "/api/v3"), fake_time)
    client.get_issue("o/r", 1)
    client.get_issue("o/r", 1)
    assert minted == ["ghs_token1"]
    assert [r.headers["Authorization"] for r in server.seen("GET", ISSUE)] == ["Bearer ghs_token1"] * 2


def test_a_401_mints_a_fresh_token_once(
    server: ScriptedServer, app_key: tuple[Path, rsa.RSAPublicKey], fake_time: FakeSleep
) -> None:
    from tests.github import payloads

    minted: list[str] = []
    server.handle("POST", ACCESS_TOKENS, token_minter(app_key[1], minted))  # type: ignore[arg-type]
    server.script("GET", ISSUE, Reply(401, {"message": "Bad credentials"}), Reply(200, payloads.issue(1)))
    client = client_for(server, AppAuth(777, app_key[0], 42, server.url + "/api/v3"), fake_time)
    assert client.get_issue("o/r", 1).number == 1
    assert minted == ["ghs_token1", "ghs_token2"]


def test_expiring_token_is_renewed(
    server: ScriptedServer, app_key: tuple[Path, rsa.RSAPublicKey], fake_time: FakeSleep
) -> None:
    minted: list[str] = []
    server.handle("POST", ACCESS_TOKENS, token_minter(app_key[1], minted))  # type: ignore[arg-type]
    auth = AppAuth(777, app_key[0], 42, server.url + "/api/v3", clock=fake_time.clock)
    auth.authorization()
    fake_time.now = 4_070_908_800.0 - 60  # one minute before 2099-01-01: inside the renewal margin
    assert auth.authorization() == "Bearer ghs_token2"


def test_unknown_installation_and_missing_key_are_named(
    server: ScriptedServer, app_key: tuple[Path, rsa.RSAPublicKey], tmp_path: Path
) -> None:
    api = server.url + "/api/v3"
    with pytest.raises(NotFound, match="installation 42"):
        AppAuth(777, app_key[0], 42, api).authorization()
    with pytest.raises(BadCredentials, match="cannot read the GitHub App private key"):
        AppAuth(777, tmp_path / "missing.pem", 42, api).authorization()


def test_from_settings_without_a_token_names_the_variable() -> None:
    with pytest.raises(BadCredentials, match="MY_GH_TOKEN is empty or not set"):
        GitHubClient.from_settings(
            "https://api.github.com", "https://api.github.com/graphql", token_env="MY_GH_TOKEN", environ={}
        )


def test_token_clients_do_not_import_pygithub() -> None:
    """PyGithub costs ~170 ms / 44 MiB: an idle tick authenticated by token must not load it."""
    import sys

    from orchestrator.edges import process

    code = (
        "import sys; from orchestrator.github.client import GitHubClient; "
        "GitHubClient.from_settings('http://127.0.0.1:9/api/v3', 'http://127.0.0.1:9/api/graphql', "
        "environ={'GITHUB_TOKEN': 't'}); print('github' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    result = process.run([sys.executable, "-c", code], cwd=root, timeout=60)
    assert result.ok, result.stderr
    assert result.stdout.strip() == "False"
