"""The layering is enforced: `lint-imports` keeps every contract in pyproject.toml, and every module of
orchestrator/ has a place in the layers (a new module must be named in the purity contract, either as a pure
module or as one the pure modules may not import)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "orchestrator"


def contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return found


def purity_contract() -> dict[str, Any]:
    return next(c for c in contracts() if str(c["name"]).startswith("Policies and shared values are pure"))


def test_lint_imports_keeps_every_contract():
    binary = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(binary), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"{len(contracts())} kept, 0 broken" in result.stdout


def test_every_module_of_the_package_has_a_layer():
    """Each root module, and each module of `config` and `security`, is either pure or forbidden to the pure
    modules — so nothing new can slip between the layers unclassified."""
    contract = purity_contract()
    named = {*contract["source_modules"], *contract["forbidden_modules"]}
    modules = [f"orchestrator.{p.stem if p.suffix == '.py' else p.name}" for p in _children(PACKAGE)]
    layered = ("config", "security", "control", "edges", "executors", "state", "values", "git")
    for package in layered:
        modules += [f"orchestrator.{package}.{p.stem}" for p in _children(PACKAGE / package)]
    packages = {f"orchestrator.{p}" for p in layered} - {"orchestrator.git"}
    unclassified = [m for m in modules if m not in named and m not in packages]
    assert unclassified == [], f"name these in the purity contract of pyproject.toml: {unclassified}"


def test_the_pure_modules_are_not_also_forbidden():
    contract = purity_contract()
    assert set(contract["source_modules"]).isdisjoint(contract["forbidden_modules"])


def _children(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in directory.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__" and p.stem != "__main__")
        or (p.is_dir() and (p / "__init__.py").exists())
    )
