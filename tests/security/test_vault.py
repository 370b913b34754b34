from __future__ import annotations

import argparse
import base64
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from orchestrator.edges.process import run
from orchestrator.security.commands import register_secrets
from orchestrator.security.vault import (
    KEY_ENV,
    SecretNotFoundError,
    Vault,
    VaultCorruptError,
    VaultError,
    VaultKeyError,
    VaultKeyPermissionError,
    init_key,
    resolve_secret,
)
from tests.security.fake_secrets import GITHUB_CLASSIC, TELEGRAM_BOT

REPO_ROOT = Path(__file__).resolve().parents[2]


def _key_b64(byte: int) -> str:
    return base64.b64encode(bytes([byte]) * 32).decode()


@pytest.fixture
def vault_file(tmp_path: Path) -> Path:
    return tmp_path / "runtime" / "state" / "vault.json"


def test_set_get_list_remove_roundtrip_and_nothing_in_clear(vault_file: Path) -> None:
    vault = Vault.open(vault_file, {KEY_ENV: _key_b64(1)})

    vault.set("GITHUB_TOKEN", GITHUB_CLASSIC)
    vault.set("telegram.bot", TELEGRAM_BOT)

    assert vault.get("GITHUB_TOKEN") == GITHUB_CLASSIC
    assert vault.names() == ["GITHUB_TOKEN", "telegram.bot"]
    assert stat.S_IMODE(vault_file.stat().st_mode) == 0o600
    stored = vault_file.read_text()
    assert GITHUB_CLASSIC not in stored and TELEGRAM_BOT not in stored
    assert GITHUB_CLASSIC not in repr(vault) + str(vault)
    assert vault.remove("telegram.bot") is True
    assert vault.remove("telegram.bot") is False
    with pytest.raises(SecretNotFoundError):
        vault.get("telegram.bot")
    assert [p.name for p in vault_file.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_wrong_key_is_a_clear_error_naming_where_the_key_came_from(vault_file: Path) -> None:
    Vault.open(vault_file, {KEY_ENV: _key_b64(1)}).set("GITHUB_TOKEN", GITHUB_CLASSIC)
    wrong = Vault.open(vault_file, {KEY_ENV: _key_b64(2)})

    for action in (lambda: wrong.get("GITHUB_TOKEN"), wrong.names, lambda: wrong.set("X", "value-123")):
        with pytest.raises(VaultKeyError, match=f"the vault key does not match .*{KEY_ENV}"):
            action()
    assert Vault.open(vault_file, {KEY_ENV: _key_b64(1)}).get("GITHUB_TOKEN") == GITHUB_CLASSIC


def test_swapped_ciphertexts_fail_authentication(vault_file: Path) -> None:
    vault = Vault.open(vault_file, {KEY_ENV: _key_b64(1)})
    vault.set("A", "value-of-a")
    vault.set("B", "value-of-b")
    document = json.loads(vault_file.read_text())
    document["secrets"]["A"], document["secrets"]["B"] = document["secrets"]["B"], document["secrets"]["A"]
    vault_file.write_text(json.dumps(document))

    with pytest.raises(VaultCorruptError, match=r"'A'.*fails authentication"):
        vault.get("A")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "other"}', "not an Agent OS vault"),
        ('{"format": "agent-os-vault/1", "secrets": {"A": {"nonce": 1}}}', "'A'.*lacks a nonce"),
    ],
)
def test_corrupt_vault_file_is_a_named_error(vault_file: Path, content: str, message: str) -> None:
    vault_file.parent.mkdir(parents=True)
    vault_file.write_text(content)

    with pytest.raises(VaultCorruptError, match=message):
        Vault.open(vault_file, {KEY_ENV: _key_b64(1)}).names()


def test_key_file_must_be_0600(tmp_path: Path, vault_file: Path) -> None:
    key_file = init_key(tmp_path / "keys" / "vault.key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    Vault.open(vault_file, {}, key_file=key_file).set("A", "value-123")

    os.chmod(key_file, 0o644)
    with pytest.raises(VaultKeyPermissionError, match=r"mode 0644; it must be 0600 \(run: chmod 600"):
        Vault.open(vault_file, {}, key_file=key_file)


def test_init_key_never_overwrites(tmp_path: Path) -> None:
    key_file = init_key(tmp_path / "vault.key")
    before = key_file.read_text()

    with pytest.raises(VaultKeyError, match="already exists"):
        init_key(key_file)
    assert key_file.read_text() == before


def test_default_key_locations_and_env_precedence(tmp_path: Path, vault_file: Path) -> None:
    home = tmp_path / "home"
    environ = {"HOME": str(home)}
    with pytest.raises(VaultKeyError, match="no vault key: set AGENT_OS_VAULT_KEY"):
        Vault.open(vault_file, environ)

    user_key = init_key(home / ".config" / "agent-os" / "vault.key")
    assert Vault.open(vault_file, environ).key_source == f"the key file at {user_key}"
    beside = init_key(vault_file.parent / "vault.key")
    assert Vault.open(vault_file, environ).key_source == f"the key file at {beside}"
    assert Vault.open(vault_file, {**environ, KEY_ENV: _key_b64(3)}).key_source == KEY_ENV


@pytest.mark.parametrize("bad", ["not base64!!", base64.b64encode(b"short").decode()])
def test_malformed_env_key_is_rejected(vault_file: Path, bad: str) -> None:
    with pytest.raises(VaultKeyError, match=KEY_ENV):
        Vault.open(vault_file, {KEY_ENV: bad})


def test_invalid_secret_name_is_rejected(vault_file: Path) -> None:
    with pytest.raises(VaultError, match="invalid secret name"):
        Vault.open(vault_file, {KEY_ENV: _key_b64(1)}).set("../escape", "value-123")


def test_resolve_secret_from_env_and_vault(vault_file: Path) -> None:
    vault = Vault.open(vault_file, {KEY_ENV: _key_b64(1)})
    vault.set("gh", GITHUB_CLASSIC)
    environ = {"GITHUB_TOKEN": "from-env-123", "EMPTY": ""}

    assert resolve_secret("GITHUB_TOKEN", environ, None) == "from-env-123"
    assert resolve_secret("env:GITHUB_TOKEN", environ, None) == "from-env-123"
    assert resolve_secret("env:EMPTY", environ, None) is None
    assert resolve_secret("vault:gh", environ, vault) == GITHUB_CLASSIC
    assert resolve_secret("vault:missing", environ, vault) is None
    with pytest.raises(VaultError, match="no vault is open"):
        resolve_secret("vault:gh", environ, None)


def _cli(
    runtime: Path, *args: str, stdin: str | None = None, key: str = _key_b64(7)
) -> tuple[int | None, str, str]:
    env = {**os.environ, KEY_ENV: key, "PYTHONPATH": str(REPO_ROOT)}
    argv = [
        sys.executable,
        "-m",
        "orchestrator.security.commands",
        "secrets",
        "--runtime",
        str(runtime),
        *args,
    ]
    result = run(argv, env=env, stdin=stdin, timeout=60)
    return result.returncode, result.stdout, result.stderr


def test_secrets_cli_reads_values_from_stdin_and_prints_only_on_get(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"

    code, out, err = _cli(runtime, "set", "GITHUB_TOKEN", "--value-stdin", stdin=GITHUB_CLASSIC + "\n")
    assert (code, out) == (0, "")
    assert GITHUB_CLASSIC not in err
    assert _cli(runtime, "list")[:2] == (0, "GITHUB_TOKEN\n")
    assert _cli(runtime, "get", "GITHUB_TOKEN")[:2] == (0, GITHUB_CLASSIC + "\n")
    assert (runtime / "state" / "vault.json").exists()

    code, out, err = _cli(runtime, "get", "GITHUB_TOKEN", key=_key_b64(8))
    assert code == 1 and out == ""
    assert "the vault key does not match" in err

    assert _cli(runtime, "rm", "GITHUB_TOKEN")[0] == 0
    assert _cli(runtime, "rm", "GITHUB_TOKEN")[0] == 1
    assert _cli(runtime, "list")[:2] == (0, "")


def test_secrets_cli_has_no_way_to_pass_a_value_in_argv(tmp_path: Path) -> None:
    code, _, err = _cli(tmp_path, "set", "GITHUB_TOKEN", GITHUB_CLASSIC)

    assert code == 2
    assert "unrecognized arguments" in err


def test_registered_commands_report_vault_errors_as_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="agentos")
    register_secrets(parser.add_subparsers(dest="command", required=True), runtime_default=tmp_path / "rt")
    args = parser.parse_args(["secrets", "--key-file", str(tmp_path / "absent.key"), "list"])

    assert args.runtime == tmp_path / "rt"
    assert args.func(args) == 1
    assert capsys.readouterr().err.startswith("error: no vault key: set AGENT_OS_VAULT_KEY")
