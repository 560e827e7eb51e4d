"""The README's test command (scripts/test) provides what the suite needs or says in
one line what to install: never a stack of driver errors on a fresh machine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
BASH = shutil.which("bash") or "/bin/bash"


def _checkout(tmp_path: Path, *, venv: bool = True) -> Path:
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    if venv:
        (tmp_path / ".venv/bin").mkdir(parents=True)
        (tmp_path / ".venv/bin/python").symlink_to(sys.executable)
    return tmp_path


def _run(checkout: Path, path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """scripts/test with only the commands in `path` (no apt-get, no pg_ctlcluster:
    a machine where it cannot provide anything)."""
    return subprocess.run([BASH, "scripts/test"], cwd=checkout, capture_output=True, text=True,
                          timeout=60, env={"PATH": str(path), **env})


@pytest.fixture
def bare_path(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in ("id", "dirname", "basename", "seq", "sleep", "pg_isready"):
        found = shutil.which(command)
        if found:
            (bin_dir / command).symlink_to(found)
    return bin_dir


def test_without_the_setup_it_says_to_run_the_setup_first(tmp_path: Path,
                                                          bare_path: Path) -> None:
    done = _run(_checkout(tmp_path / "co", venv=False), bare_path)
    assert done.returncode == 2
    assert done.stderr == "scripts/test: no .venv here: run the README's set-up command first\n"


def test_a_missing_browser_it_cannot_install_is_one_line_naming_the_packages(
        tmp_path: Path, bare_path: Path) -> None:
    done = _run(_checkout(tmp_path / "co"), bare_path,
                RULESD_TEST_CHROMIUM=str(tmp_path / "nowhere/chromium"))
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "install Debian's chromium and chromium-driver" in lines[0]
    assert str(tmp_path / "nowhere/chromium") in lines[0]


def test_a_missing_postgresql_it_cannot_start_is_one_line_naming_the_url(
        tmp_path: Path, bare_path: Path) -> None:
    if not (bare_path / "pg_isready").exists():
        pytest.fail("pg_isready (Debian's postgresql-client) is needed by scripts/test")
    url = "postgresql://postgres@127.0.0.1:9/test"  # the discard port: nothing answers
    done = _run(_checkout(tmp_path / "co"), bare_path, RULESD_TEST_CHROMIUM="/bin/sh",
                RULESD_TEST_CHROMEDRIVER="/bin/sh", RULESD_TEST_POSTGRES_URL=url)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert f"need a PostgreSQL at {url}" in lines[0]


def test_ci_runs_the_readmes_setup_with_the_lock_and_then_its_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci/run").read_text()
    setup = "python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e '.[test]'"
    assert f"{setup} && .venv/bin/rulesd run rules.example.yaml" in readme
    assert setup.replace("install", "install --quiet") in ci and "PIP_NO_CACHE_DIR=1" in ci
    assert "```sh\nbash scripts/test\n```" in readme and "\nbash scripts/test " in ci
    assert os.access(ROOT / "scripts/test", os.X_OK)
    # The lock pins the whole tree the set-up installs, and never rulesd itself (a pin
    # of `rulesd @ file:///where/it/was/made` refuses every other checkout).
    lines = [line for line in (ROOT / "constraints.txt").read_text().splitlines()
             if line and not line.startswith(" ") and not line.startswith("#")]
    assert all("==" in line and "@" not in line for line in lines), lines
    pinned = {line.split("==")[0].lower() for line in lines}
    assert {"trio", "apprise", "pyyaml", "pytest", "selenium", "psycopg"} <= pinned
    assert "rulesd" not in pinned
    readme_refresh = re.search(r"pip-compile [^\n]*", readme)
    assert readme_refresh and "--unsafe-package rulesd" in readme_refresh[0]
