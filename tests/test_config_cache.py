"""The validated config kept beside config.yaml (orchestrator/config/parsed_cache.py): used while nothing it
depends on changed, never trusted otherwise, never holding what it must not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator.config import ConfigError, load_config
from orchestrator.config.parsed_cache import cache_path

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, runtime: str = "runtime", name: str = "widgets") -> Path:
    data = {
        "runtime_dir": runtime,
        "github": {"api_url": "https://api.github.com"},
        "repos": [{"owner": "acme", "name": name}],
    }
    path.write_text(yaml.safe_dump(data))
    return path


def test_second_load_is_the_same_config_and_reads_no_parser(tmp_path: Path) -> None:
    config_file = write(tmp_path / "config.yaml")
    first = load_config(config_file)
    assert cache_path(config_file).is_file()
    probe = (
        "import sys; from orchestrator.config import load_config; "
        f"c = load_config({str(config_file)!r}); "
        "print(c.repos[0].full_name, 'yaml' in sys.modules, 'orchestrator.config.schema' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["acme/widgets", "False", "False"], out.stderr
    assert load_config(config_file) == first


def test_an_edit_is_seen_even_with_the_same_size_and_time(tmp_path: Path) -> None:
    config_file = write(tmp_path / "config.yaml", name="widgets")
    load_config(config_file)
    stamp = config_file.stat()
    write(config_file, name="gadgets")  # same length
    os.utime(config_file, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert config_file.stat().st_size == stamp.st_size
    assert load_config(config_file).repos[0].name == "gadgets"


def test_home_is_an_input_of_paths_with_a_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = write(tmp_path / "config.yaml", runtime="~/agentos-runtime")
    monkeypatch.setenv("HOME", str(tmp_path / "a"))
    assert load_config(config_file).runtime_dir == tmp_path / "a" / "agentos-runtime"
    monkeypatch.setenv("HOME", str(tmp_path / "b"))
    assert load_config(config_file).runtime_dir == tmp_path / "b" / "agentos-runtime"


def test_a_cache_others_can_write_is_not_trusted(tmp_path: Path) -> None:
    config_file = write(tmp_path / "config.yaml")
    load_config(config_file)
    cache = cache_path(config_file)
    assert cache.stat().st_mode & 0o777 == 0o600
    cache.write_bytes(b"not a pickle")
    cache.chmod(0o666)
    assert load_config(config_file).repos[0].name == "widgets"


def test_a_corrupt_cache_is_a_miss_and_is_replaced(tmp_path: Path) -> None:
    config_file = write(tmp_path / "config.yaml")
    load_config(config_file)
    cache = cache_path(config_file)
    cache.write_bytes(cache.read_bytes()[:40])
    assert load_config(config_file).repos[0].name == "widgets"
    assert len(cache.read_bytes()) > 40


def test_an_invalid_config_is_an_error_every_time_and_never_cached(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text("github: {api_url: 5}\nrepos: []\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="api_url"):
            load_config(config_file)
    assert not cache_path(config_file).exists()


def test_an_inline_secret_is_refused_and_not_written_anywhere(tmp_path: Path) -> None:
    config_file = write(tmp_path / "config.yaml")
    text = config_file.read_text() + "telegram:\n  token_env: ghp_" + "a" * 36 + "\n"
    config_file.write_text(text)
    with pytest.raises(ConfigError):
        load_config(config_file)
    assert not cache_path(config_file).exists()


def test_missing_file_still_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
