"""Realistic fake credentials, generated at import so no token-shaped literal sits in the repository."""

from __future__ import annotations

import random
import string

_RANDOM = random.Random(20240607)
BASE62 = string.ascii_letters + string.digits
URLSAFE = BASE62 + "_-"


def rand(length: int, alphabet: str = BASE62) -> str:
    """A random string with at least one character of each class (upper, lower, digit) the alphabet has."""
    classes = [test for test in (str.isupper, str.islower, str.isdigit) if any(test(c) for c in alphabet)]
    while True:
        value = "".join(_RANDOM.choice(alphabet) for _ in range(length))
        if all(any(test(c) for c in value) for test in classes):
            return value


GITHUB_CLASSIC = "ghp" + "_" + rand(36)
GITHUB_APP_INSTALLATION = "ghs" + "_" + rand(36)
GITHUB_FINE_GRAINED = "github" + "_pat_" + rand(22) + "_" + rand(59)
PRIVATE_KEY_HEADER = "-----" + "BEGIN RSA PRIVATE KEY" + "-----"
PRIVATE_KEY_BLOCK = (
    PRIVATE_KEY_HEADER + "\n" + rand(64, BASE62 + "+/") + "\n" + rand(40, BASE62 + "+/") + "=\n"
    "-----" + "END RSA PRIVATE KEY" + "-----"
)
TELEGRAM_BOT = "7" + str(_RANDOM.randrange(10**8, 10**9)) + ":" + "AA" + rand(33, URLSAFE)
OPENAI_LEGACY = "sk" + "-" + rand(48)
OPENAI_PROJECT = "sk" + "-proj-" + rand(156, URLSAFE)
ANTHROPIC = "sk" + "-ant-api03-" + rand(93, URLSAFE) + "AA"
GOOGLE = "AI" + "za" + rand(35, URLSAFE)
AWS_ACCESS_KEY_ID = "AK" + "IA" + rand(16, string.ascii_uppercase + string.digits)
AWS_SECRET = rand(40, BASE62 + "/+")
SLACK_BOT = (
    "xo"
    + "xb-"
    + str(_RANDOM.randrange(10**11, 10**12))
    + "-"
    + str(_RANDOM.randrange(10**12, 10**13))
    + "-"
    + rand(24)
)

# (kind, a line of text containing the secret, the secret value as it appears on the line)
SAMPLES: list[tuple[str, str, str]] = [
    ("github-token", f'GITHUB_TOKEN = "{GITHUB_CLASSIC}"', GITHUB_CLASSIC),
    (
        "github-token",
        f"git clone https://x-access-token:{GITHUB_APP_INSTALLATION}@github.com/o/r",
        GITHUB_APP_INSTALLATION,
    ),
    ("github-fine-grained-token", f"export GH_TOKEN={GITHUB_FINE_GRAINED}", GITHUB_FINE_GRAINED),
    ("private-key", f'key = "{PRIVATE_KEY_HEADER}\\nMIIEow..."', PRIVATE_KEY_HEADER),
    ("telegram-bot-token", f"bot_token: {TELEGRAM_BOT}", TELEGRAM_BOT),
    ("openai-api-key", f"OPENAI_API_KEY={OPENAI_LEGACY}", OPENAI_LEGACY),
    ("openai-api-key", f"client = OpenAI(api_key='{OPENAI_PROJECT}')", OPENAI_PROJECT),
    ("anthropic-api-key", f'{{"x-api-key": "{ANTHROPIC}"}}', ANTHROPIC),
    ("google-api-key", f"https://maps.googleapis.com/maps/api?key={GOOGLE}&q=x", GOOGLE),
    ("aws-access-key-id", f"aws_access_key_id = {AWS_ACCESS_KEY_ID}", AWS_ACCESS_KEY_ID),
    ("aws-secret-access-key", f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
    ("aws-secret-access-key", f'AWS_SECRET_ACCESS_KEY: "{AWS_SECRET}"', AWS_SECRET),
    ("slack-token", f"SLACK_TOKEN={SLACK_BOT}", SLACK_BOT),
]

# Lines that look like credentials but are not: placeholders, documented examples, hashes, identifiers.
LOOKALIKES: list[str] = [
    "GITHUB_TOKEN=ghp" + "_" + "X" * 36,
    "token: ghp" + "_" + "your" + "_token_here_" + "0" * 24,
    "aws_access_key_id = AK" + "IAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY",
    'aws_secret_access_key = os.environ["AWS_SECRET_ACCESS_KEY"]',
    "SLACK_TOKEN=xo" + "xb-your-token-goes-here",
    "pip install sk" + "-learn-compatible-estimator-wrapper",
    "git worktree add runtime/worktrees/task-20240101-issue-42-claude-run",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b (HEAD -> main)",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "at 2024-06-07T12:34:56Z job=dispatcher issue=1234567890 took 12.5s",
    "chat_id: 123456789:" + "a" * 35,
    "request id 550e8400-e29b-41d4-a716-446655440000",
    "See the GitHub docs for the ghp_ prefix and github_pat_ fine-grained tokens.",
    "Keys look like -----BEGIN-----, then base64.",
    "api_key_env: OPENAI_API_KEY",
    "AIza" + "SyDocsExampleTooShort",
]
