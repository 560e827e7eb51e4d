"""The command line never shows a traceback: broken arguments, files and paths get a
message and the documented exit code (0 ok, 1 a problem, 2 usage)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulesd.cli import main

ROOT = Path(__file__).parent.parent

# Files a user might point a command at by mistake.
BROKEN_FILES = {
    "missing.yaml": None,
    "empty.yaml": b"",
    "binary.yaml": b"\x00\xff\xfe rules",
    "latin1.yaml": "version: 1\nrules: [{name: caf\xe9}]\n".encode("latin-1"),
    "list.yaml": b"- a\n- b\n",
    "tabs.yaml": b"version: 1\n\trules: []\n",
    "unclosed.yaml": b"version: 1\nrules: [\n",
    "deep.yaml": b"a: " + b"[" * 500 + b"]" * 500 + b"\n",
    "capture.jsonl": b'{"t": 1, "source": "x"\n',
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("cli")
    for name, content in BROKEN_FILES.items():
        if content is not None:
            (folder / name).write_bytes(content)
    (folder / "a-folder.yaml").mkdir()
    shutil.copy(ROOT / "rules.example.yaml", folder / "example.yaml")  # state goes here
    yield folder


COMMANDS = ["run", "check", "reload", "record", "dry-run", "test", "notify-test", "outbox",
            "silence"]
WORDS = ["--from", "--to", "--duration", "--for", "--rule", "--replay", "--out", "--format",
         "--sources", "--notifier", "--retry", "--log-format", "--log-level", "-v", "add",
         "list", "expire", "yesterday", "10min", "-1", "1e400", "nan", "json", "x", "",
         "\x1b[31m", "2025-13-45", "../", "--", "-"]


@st.composite
def argvs(draw: st.DrawFn, folder: Path) -> list[str]:
    command = draw(st.sampled_from(COMMANDS))
    # Commands that would connect or send only ever get broken files.
    safe = command in ("check", "dry-run", "test", "outbox", "silence")
    names = [*BROKEN_FILES, "a-folder.yaml"] + (["example.yaml"] if safe else [])
    argv = [command]
    if command == "silence":
        argv.append(draw(st.sampled_from(["add", "list", "expire", "nope"])))
    argv.append(str(folder / draw(st.sampled_from(names))))
    argv += draw(st.lists(st.one_of(st.sampled_from(WORDS),
                                    st.sampled_from([str(folder / n) for n in BROKEN_FILES])),
                          max_size=5))
    if command == "dry-run" and "--replay" not in argv:
        argv += ["--replay", str(folder / draw(st.sampled_from(list(BROKEN_FILES))))]
    return argv


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_broken_command_lines_get_a_message_never_a_traceback(
        data: st.DataObject, files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = data.draw(argvs(files))
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage errors
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 2
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (argv, code)
    assert "Traceback" not in err + out and "unexpected error" not in err, (argv, err)
    if code != 0:
        assert (err + out).strip(), (argv, "an error with no message")


@pytest.mark.parametrize("name", sorted(n for n in BROKEN_FILES if n != "capture.jsonl"))
@pytest.mark.parametrize("command", ["check", "test", "outbox", "reload"])
def test_each_broken_file_is_a_message_and_exit_1(
        command: str, name: str, files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([command, str(files / name)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in out + err and "unexpected" not in err, err
    assert (out + err).strip()
