"""Security building blocks: secret guard, redaction, vault, audit log (see docs/security.md).

Submodules are imported explicitly by their users; this package imports nothing so that the pre-commit hook
(standard library only) can load `secret_scan` without `cryptography`.
"""
