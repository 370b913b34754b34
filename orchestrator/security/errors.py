"""The base of every named security failure, so a CLI can report any of them in one line."""


class SecurityError(Exception):
    """A vault, audit-log or secret-guard failure whose message is safe to show (it never holds a secret)."""
