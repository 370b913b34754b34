"""The secret vault: named secrets, each sealed with AES-256-GCM, in one JSON file.

File format (mode 0600, written atomically under a lock):

    {"format": "agent-os-vault/1",
     "key_id": "<hex HMAC-SHA256(key, 'agent-os vault key id')[:16]>",
     "secrets": {"NAME": {"nonce": "<base64 12 bytes>", "ciphertext": "<base64>"}}}

Each value has its own random 96-bit nonce and uses its name as associated data, so a ciphertext moved to
another name fails authentication. `key_id` tells a wrong key (VaultKeyError) from a damaged entry
(VaultCorruptError) without decrypting anything. The key comes from `AGENT_OS_VAULT_KEY` (base64 of 32
bytes) or a key file readable only by its owner (mode 0600).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from orchestrator.security.errors import SecurityError

KEY_ENV = "AGENT_OS_VAULT_KEY"
KEY_FILE_NAME = "vault.key"
FORMAT = "agent-os-vault/1"
KEY_BYTES = 32
NONCE_BYTES = 12
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")


class VaultError(SecurityError):
    """Base class for every vault failure; messages name files and secrets, never values."""


class VaultKeyError(VaultError):
    """No usable key, or the key does not match the vault."""


class VaultKeyPermissionError(VaultKeyError):
    """The key file can be read by someone other than its owner."""


class VaultCorruptError(VaultError):
    """The vault file is not a vault, or an entry fails authentication under the right key."""


def default_key_paths(vault_path: Path, environ: Mapping[str, str]) -> list[Path]:
    """Where a key file is looked for, in order: next to the vault, then the user's config directory."""
    return [vault_path.parent / KEY_FILE_NAME, user_key_path(environ)]


def user_key_path(environ: Mapping[str, str]) -> Path:
    config_home = environ.get("XDG_CONFIG_HOME") or str(
        Path(environ.get("HOME", str(Path.home()))) / ".config"
    )
    return Path(config_home) / "agent-os" / KEY_FILE_NAME


def decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except binascii.Error as exc:
        raise VaultKeyError(f"the vault key in {source} is not valid base64: {exc}") from exc
    if len(key) != KEY_BYTES:
        raise VaultKeyError(f"the vault key in {source} is {len(key)} bytes; it must be {KEY_BYTES} (base64)")
    return key


def read_key_file(path: Path) -> bytes:
    """The key in `path`, refusing a file that group or others can access or that another user owns."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise VaultKeyError(f"no vault key file at {path}: run `agentos secrets init-key`") from exc
    mode = info.st_mode & 0o777
    if mode & 0o077:
        raise VaultKeyPermissionError(
            f"the vault key file {path} has mode {mode:04o}; it must be 0600 (run: chmod 600 {path})"
        )
    if info.st_uid != os.geteuid():
        raise VaultKeyPermissionError(f"the vault key file {path} belongs to uid {info.st_uid}, not to you")
    return decode_key(path.read_text(encoding="ascii", errors="replace"), str(path))


def init_key(path: Path) -> Path:
    """Create a new random key file (mode 0600, parent 0700); never overwrite an existing key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise VaultKeyError(f"a vault key already exists at {path}; refusing to replace it") from exc
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii") + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return path


def key_id(key: bytes) -> str:
    return hmac.new(key, b"agent-os vault key id", hashlib.sha256).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class SecretNotFoundError(VaultError):
    """The vault holds no secret by that name."""


class Vault:
    """Named secrets in one encrypted file. The key and the values never appear in repr/str."""

    def __init__(self, path: Path, key: bytes, key_source: str = "the given key") -> None:
        if len(key) != KEY_BYTES:
            raise VaultKeyError(f"a vault key must be {KEY_BYTES} bytes, got {len(key)}")
        self.path = Path(path)
        self.key_source = key_source
        self._aead = AESGCM(key)
        self._key_id = key_id(key)

    def __repr__(self) -> str:
        return f"Vault(path={str(self.path)!r}, key_source={self.key_source!r})"

    __str__ = __repr__

    @classmethod
    def open(cls, path: Path, environ: Mapping[str, str], key_file: Path | None = None) -> Vault:
        """Key from AGENT_OS_VAULT_KEY, else `key_file`, else the first existing default key file."""
        env_value = environ.get(KEY_ENV)
        if env_value:
            return cls(path, decode_key(env_value, KEY_ENV), key_source=KEY_ENV)
        candidates = [key_file] if key_file is not None else default_key_paths(Path(path), environ)
        for candidate in candidates:
            if candidate.exists():
                return cls(path, read_key_file(candidate), key_source=f"the key file at {candidate}")
        looked = ", ".join(str(candidate) for candidate in candidates)
        raise VaultKeyError(
            f"no vault key: set {KEY_ENV} or run `agentos secrets init-key` (looked in {looked})"
        )

    def names(self) -> list[str]:
        return sorted(self._load())

    def get(self, name: str) -> str:
        entry = self._load().get(name)
        if entry is None:
            raise SecretNotFoundError(f"no secret named {name!r} in the vault {self.path}")
        return self._decrypt(name, entry)

    def set(self, name: str, value: str) -> None:
        _check_name(name)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), name.encode("utf-8"))
        with self._locked():
            entries = self._load()
            entries[name] = {"nonce": _b64(nonce), "ciphertext": _b64(sealed)}
            self._write(entries)

    def remove(self, name: str) -> bool:
        """Delete a secret; False when there was none by that name."""
        with self._locked():
            entries = self._load()
            if entries.pop(name, None) is None:
                return False
            self._write(entries)
        return True

    def _decrypt(self, name: str, entry: Mapping[str, str]) -> str:
        try:
            nonce = base64.b64decode(entry["nonce"], validate=True)
            sealed = base64.b64decode(entry["ciphertext"], validate=True)
            plain = self._aead.decrypt(nonce, sealed, name.encode("utf-8"))
        except (KeyError, TypeError, binascii.Error, ValueError, InvalidTag) as exc:
            raise VaultCorruptError(
                f"the secret {name!r} in {self.path} fails authentication: the file was edited or entries "
                "were swapped; set it again"
            ) from exc
        return plain.decode("utf-8")

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise VaultCorruptError(f"the vault {self.path} is not valid JSON: {exc}") from exc
        entries = _parse_document(document, self.path)
        if document.get("key_id") != self._key_id:
            raise VaultKeyError(
                f"the vault key does not match the vault {self.path}: check {KEY_ENV} or the key file "
                f"(key used: {self.key_source}; default key file: {self.path.parent / KEY_FILE_NAME})"
            )
        return entries

    def _write(self, entries: Mapping[str, Mapping[str, str]]) -> None:
        document = {"format": FORMAT, "key_id": self._key_id, "secrets": dict(sorted(entries.items()))}
        write_private_atomically(self.path, json.dumps(document, indent=1) + "\n")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise VaultError(
            f"invalid secret name {name!r}: use letters, digits, '_', '.', '-' (starting with a letter or '_')"
        )


def _parse_document(document: Any, path: Path) -> dict[str, dict[str, str]]:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise VaultCorruptError(f'{path} is not an Agent OS vault (expected "format": {FORMAT!r})')
    entries = document.get("secrets")
    if not isinstance(entries, dict):
        raise VaultCorruptError(f'the vault {path} has no "secrets" object')
    for name, entry in entries.items():
        valid = isinstance(entry, dict) and all(
            isinstance(entry.get(f), str) for f in ("nonce", "ciphertext")
        )
        if not valid:
            raise VaultCorruptError(f"the secret {name!r} in {path} lacks a nonce or ciphertext string")
    return {name: dict(entry) for name, entry in entries.items()}


def write_private_atomically(path: Path, text: str) -> None:
    """tmp file (0600) in the same directory + fsync + os.replace + fsync of the directory."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def resolve_secret(name_or_env: str, environ: Mapping[str, str], vault: Vault | None) -> str | None:
    """A config reference → its value: "env:NAME" or "NAME" (environment), "vault:NAME" (the vault).

    None when the variable is unset/empty or the vault has no such secret; a vault reference without a
    vault, a wrong key or a corrupt vault raise VaultError.
    """
    reference = name_or_env.strip()
    if reference.startswith("vault:"):
        name = reference.removeprefix("vault:")
        if vault is None:
            raise VaultError(f"the configuration refers to {reference!r} but no vault is open")
        try:
            return vault.get(name)
        except SecretNotFoundError:
            return None
    name = reference.removeprefix("env:")
    return environ.get(name) or None
