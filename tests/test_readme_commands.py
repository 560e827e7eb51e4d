"""Every command the README prints runs as printed, where it needs no network, no
container daemon and no minutes of machine time: a user copies them."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent

# Commands shown but not run here, and why (each must stay true).
NOT_HERE = {
    "python3 -m venv": "installs from PyPI (the CI job runs exactly this)",
    ".venv/bin/pip": "installs from PyPI",
    ".venv/bin/python -m pytest": "is this test suite",
    "bash scripts/test": "is this test suite (tests/test_scripts.py runs its refusals)",
    "bash .ci/run": "is CI: the set-up and this test suite",
    ".venv/bin/rulesd run": "connects to DEX Screener and runs until stopped",
    ".venv/bin/python benchmarks/run.py": "takes minutes (benchmarks/README.md has results)",
    ".venv/bin/ruff": "a development tool (the dev extra)",
    "docker": "needs a container daemon (tests/test_contrib.py checks the files)",
    "systemd-analyze": "tests/test_cli.py runs it on the unit",
}
COMMAND = re.compile(r"(\.venv/bin/|\. \.venv/bin/activate |bash |python -m |python3 |docker "
                     r"|systemd-analyze )")
ACTIVATE = ". .venv/bin/activate "
# Reference syntax, not a command: placeholders in capitals; the bare module form.
PLACEHOLDER = re.compile(r"\b(CONFIG|FILE|NAME|ID|KEY|SYMBOL)\b|\.\.\.|…|\[--|^python -m rulesd$")


def commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    found = []
    for block in re.findall(r"```(?:sh|bash)\n(.*?)```", text, re.S):
        found += block.replace("\\\n", " ").splitlines()  # (output lines are dropped below)
    found += re.findall(r"`([^`\n]+)`", text)
    found = [c for c in found if COMMAND.match(c)]
    return list(dict.fromkeys(c.strip() for c in found))


def test_every_readme_command_runs_as_printed(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, clone / name)
    ran = []
    for command in commands():
        if PLACEHOLDER.search(command) or any(command.startswith(p) for p in NOT_HERE):
            continue
        if command.startswith(ACTIVATE):  # the set-up's environment, then bare `rulesd`
            argv = ["bash", "-c", f". {BIN / 'activate'} {command.removeprefix(ACTIVATE)}"]
        else:
            argv = shlex.split(command)
        if argv[0].startswith(".venv/bin/"):
            argv[0] = str(BIN / argv[0].removeprefix(".venv/bin/"))
        elif argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        done = subprocess.run(argv, cwd=clone, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (command, done.stderr[-2000:])
        assert "Traceback" not in done.stderr, (command, done.stderr[-2000:])
        ran.append(command)
    # The README's runnable commands: the sample replay and the field tables.
    assert len(ran) >= 3, ran
    assert any("dry-run rules.example.yaml --replay" in c for c in ran), ran
    assert any(c.startswith(ACTIVATE) for c in ran), ran
