"""Small real git repositories for the replay tests: a source history, and a clone standing in for a worktree."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def init(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path


def commit(repo: Path, message: str, files: dict[str, str | bytes | None]) -> str:
    """Write (or delete, for None) the files and commit them; the new commit's sha."""
    for name, content in files.items():
        target = repo / name
        if content is None:
            target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    git(repo, "add", "--all")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


LIB_V0 = "def add(a, b):\n    return a + b\n"
TEST_V0 = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def calc_history(path: Path) -> list[str]:
    """A tiny library with tests and four real-looking commits after the base; [base, c1, c2, c3, c4].

    c2 builds on c1 in the same file (calc.py); c3 is independent (a new module); c4 only uses c1's function
    from a new test file (a dependency no file overlap shows)."""
    repo = init(path)
    shas = [
        commit(
            repo, "Initial calc", {"calc.py": LIB_V0, "tests/test_calc.py": TEST_V0, "README.md": "calc\n"}
        )
    ]
    shas.append(
        commit(
            repo,
            "Add sub() to calc\n\nA subtraction helper next to `add()`, with a test.",
            {
                "calc.py": LIB_V0 + "\n\ndef sub(a, b):\n    return a - b\n",
                "tests/test_calc.py": TEST_V0
                + "\n\ndef test_sub():\n    from calc import sub\n\n    assert sub(5, 3) == 2\n",
            },
        )
    )
    shas.append(
        commit(
            repo,
            "Add mul() after sub() in calc\n\nMultiplication, tested like the others.",
            {
                "calc.py": LIB_V0
                + "\n\ndef sub(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n",
                "tests/test_calc.py": TEST_V0
                + "\n\ndef test_sub():\n    from calc import sub\n\n    assert sub(5, 3) == 2\n"
                + "\n\ndef test_mul():\n    from calc import mul\n\n    assert mul(4, 3) == 12\n",
            },
        )
    )
    shas.append(
        commit(
            repo,
            "Add greet() in a new module\n\n`greet(name)` returns a greeting; tests in tests/test_greet.py.",
            {
                "greet.py": 'def greet(name):\n    return f"hello {name}"\n',
                "tests/test_greet.py": 'from greet import greet\n\n\ndef test_greet():\n    assert greet("x") == "hello x"\n',
            },
        )
    )
    shas.append(
        commit(
            repo,
            "Test sub() with negative numbers\n\nA separate test module for `sub()` edge cases.",
            {
                "tests/test_negative.py": "from calc import sub\n\n\ndef test_negative():\n    assert sub(1, 3) == -2\n"
            },
        )
    )
    return shas
