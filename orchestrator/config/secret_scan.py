"""Refuses secrets written into configuration files: secret-named keys with values, and token-shaped strings
(the one secret catalog, `orchestrator.security.secret_catalog`, in its strict mode)."""

from __future__ import annotations

import re

from orchestrator.security.secret_catalog import strict_label

from .fields import ParseContext, join

SECRET_KEY = re.compile(r"(?:^|_)(?:token|api_?key|secret|password|passwd|private_key)$", re.IGNORECASE)

WHERE_SECRETS_GO = (
    "put it in an environment variable (or the vault: `bin/agentos secrets`) "
    "and write only that name, in a *_env key"
)


def token_shape(text: str) -> str | None:
    """What kind of secret `text` looks like (the catalog's strict mode: placeholders count), or None."""
    return strict_label(text)


def report_inline_secrets(data: object, ctx: ParseContext, path: str = "") -> None:
    """Record a problem for every inline secret under `data`; their paths are then muted for other checks."""
    if isinstance(data, dict):
        for key, value in data.items():
            key_path = join(path, key)
            label = token_shape(key) if isinstance(key, str) else None
            if label:
                _refuse(ctx, key_path, f"key looks like {label}; {WHERE_SECRETS_GO}")
            elif isinstance(key, str) and SECRET_KEY.search(key) and _is_literal(value):
                _refuse(ctx, key_path, f"secret values must not be written here; {WHERE_SECRETS_GO}")
            else:
                report_inline_secrets(value, ctx, key_path)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            report_inline_secrets(item, ctx, f"{path}[{index}]")
    elif isinstance(data, str):
        label = token_shape(data)
        if label:
            _refuse(ctx, path, f"looks like {label}; {WHERE_SECRETS_GO}")


def _is_literal(value: object) -> bool:
    return value is not None and not isinstance(value, dict | list) and str(value).strip() != ""


def _refuse(ctx: ParseContext, path: str, message: str) -> None:
    ctx.add(path, message)
    ctx.secret_paths.add(path)
