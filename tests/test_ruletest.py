"""`rulesd test`: rule unit tests pass, fail with a readable diff, and locate bad files."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from rulesd.cli import main
from rulesd.commands.test import run_files

ROOT = Path(__file__).parent.parent
EXAMPLE_TESTS = ROOT / "contrib" / "rules.example.test.yaml"
# The cases of the example's rule tests (the file grows with the example).
CASES = EXAMPLE_TESTS.read_text().count("\n  - name: ")


def run(paths: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return run_files(paths, out), out.getvalue()


def test_the_example_rule_tests_pass() -> None:
    price_tests = ROOT / "contrib" / "tests" / "price-rules.test.yaml"
    code, out = run([str(EXAMPLE_TESTS), str(price_tests)])
    assert code == 0, out
    assert out.count("PASS ") == CASES + 2 and "FAIL" not in out


def test_a_failure_shows_what_the_rule_gave_with_its_values(tmp_path: Path) -> None:
    source = ROOT / "contrib" / "tests"
    shutil.copy(source / "price-rules.yaml", tmp_path / "price-rules.yaml")
    test = tmp_path / "t.yaml"
    test.write_text((source / "price-rules.test.yaml").read_text().replace(
        "- {rule: btc-5m-move, at: 42m,", "- {rule: btc-5m-move, at: 20m,"))
    code, out = run([str(test)])
    assert code == 1
    assert "  missing:    btc-5m-move at 20m containing" in out
    assert ("    the rule gave: btc-5m-move cmc:1 at 42m (price -3.03% in 5m: "
            "99,000 → 96,000)") in out
    assert "  unexpected: btc-5m-move cmc:1 at 42m (price -3.03% in 5m" in out


def test_a_list_of_rules_files_runs_every_case_against_each(suite: Path) -> None:
    shutil.copy(suite.parent / "rules.example.yaml", suite.parent / "copy.yaml")
    suite.write_text(suite.read_text().replace("rules: rules.example.yaml",
                                               "rules: [rules.example.yaml, copy.yaml]"))
    code, out = run([str(suite)])
    assert code == 0 and out.count("PASS ") == 2 * CASES and "[copy.yaml]" in out


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "rules.example.yaml", tmp_path / "rules.example.yaml")
    test = tmp_path / "t.yaml"
    test.write_text(EXAMPLE_TESTS.read_text().replace("../rules.example.yaml",
                                                      "rules.example.yaml"))
    return test


def test_a_wrong_expectation_fails_with_a_diff(suite: Path) -> None:
    suite.write_text(suite.read_text().replace(
        '{rule: takeover-claims, key: "solana:Cto1", at: 0s}',
        '{rule: takeover-claims, key: "solana:Cto2", at: 5s, contains: ["t.me"]}'))
    code, out = run([str(suite)])
    assert code == 1
    assert f"FAIL {suite}: takeover claims mentioning Telegram alert, others do not" in out
    assert '  missing:    takeover-claims solana:Cto2 at 5s containing "t.me"' in out
    assert "  unexpected: takeover-claims solana:Cto1 at 0s (Community takeover: Cto1" in out
    assert out.count("PASS ") == CASES - 1


def test_a_wrong_time_or_text_fails(suite: Path) -> None:
    suite.write_text(suite.read_text().replace('at: 30m, contains: ["nothing for 30m"]',
                                               'at: 31m, contains: ["nothing for 30m"]'))
    code, out = run([str(suite)])
    assert code == 1 and "missing:    boosts-silent dexscreener:token-boosts/latest at 31m" in out


@pytest.mark.parametrize(("change", "message"), [
    (("  - name: a token boosted", "  - nam: a token boosted"),
     ":23:5: unknown key 'nam' in a case (did you mean 'name'?)"),
    (("{at: 20m, event: {kind: boost,", "{at: 20m, event: {kind: boots,"),
     ":26:33: an event needs `kind`, one of the event kinds (did you mean 'boost'?)"),
    (("{at: 50m, event:", "{at: soon, event:"),
     ":27:14: expected a duration"),
    (("    expect:\n      - {rule: boosted-thrice", "    expect:\n      - {rul: boosted-thrice"),
     ":29:10: unknown key 'rul'"),
])
def test_a_malformed_test_file_is_reported_with_line_numbers(
    suite: Path, change: tuple[str, str], message: str,
) -> None:
    assert change[0] in suite.read_text()
    suite.write_text(suite.read_text().replace(*change, 1))
    code, out = run([str(suite)])
    assert code == 1
    assert f"{suite}{message}" in out, out


def test_the_command_line(suite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(suite)]) == 0
    assert capsys.readouterr().out.count("PASS") == CASES


def test_the_readmes_rule_test_examples_pass_as_written(tmp_path: Path) -> None:
    """The README's examples, copied beside the files they name, pass as printed."""
    import re

    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    first = next(b for b in blocks if b.startswith("rules: ../rules.example.yaml"))
    price = next(b for b in blocks if b.startswith("rules: price-rules.yaml"))
    (tmp_path / "contrib" / "tests").mkdir(parents=True)
    shutil.copy(ROOT / "rules.example.yaml", tmp_path / "rules.example.yaml")
    shutil.copy(ROOT / "contrib" / "tests" / "price-rules.yaml",
                tmp_path / "contrib" / "tests" / "price-rules.yaml")
    (tmp_path / "contrib" / "first.test.yaml").write_text(first)
    (tmp_path / "contrib" / "tests" / "price.test.yaml").write_text(price)
    out = io.StringIO()
    code = run_files([str(tmp_path / "contrib" / "first.test.yaml"),
                               str(tmp_path / "contrib" / "tests" / "price.test.yaml")], out)
    assert code == 0, out.getvalue()
    assert out.getvalue().splitlines()[-1].endswith("passed, 0 failed"), out.getvalue()
