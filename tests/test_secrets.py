"""A secret pasted into a wrong field as well (a key in `ping_interval`, a bot URL in
`on:`) never appears in what rulesd prints: `check`, `run`'s refusal, a refused
reload. Each kind of secret, written literally or through ${VAR}, is pasted into each
kind of field; the problem is still reported, located, with the value masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulesd import loader
from rulesd.cli import main
from rulesd.clock import TrioClock
from rulesd.daemon import Daemon
from tests.helpers import write_rules

CMC_KEY = "c0ffee00-1111-2222-3333-444455556666"
MOBULA_KEY = "mob-5ecret-key-987654"
TG_URL = "tgram://123456789:AAHsecretBotToken0123456789abcdefghij/-1001234567890"
PG_PASSWORD = "pgPa55w0rdXyz"
HTTP_TOKEN = "httpT0kenSecret42"
HEADER = "Bearer hdrS3cret999"

# Each kind of secret and its right place (`%s`: the secret, or ${PASTED}).
SECRETS = {
    "cmc api_key": (CMC_KEY, "coinmarketcap", "{api_key: '%s', subscriptions: [{channel: "
                    "market@crypto_latest_price, params: {crypto_ids: [1]}}]}"),
    "mobula api_key": (MOBULA_KEY, "mobula", "{api_key: '%s'}"),
    "authorization header": (HEADER, "headers", "{Authorization: '%s'}"),
    "notifier url": (TG_URL, "notifier", "'%s'"),
    "state.url password": (PG_PASSWORD, "state", "{url: 'postgresql://rulesd:%s@127.0.0.1/x'}"),
    "http.token": (HTTP_TOKEN, "http", "{listen: '0.0.0.0:9464', token: '%s'}"),
}

# What must never be printed of each: the secret, and its telling pieces (a key pasted
# into a template comes back from Jinja in pieces: `unknown variable 'c0ffee00'`).
NEVER = {
    "cmc api_key": (CMC_KEY, "c0ffee00", "444455556666"),
    "mobula api_key": (MOBULA_KEY,),
    "authorization header": (HEADER, "hdrS3cret999"),
    "notifier url": (TG_URL, "AAHsecretBotToken0123456789abcdefghij"),
    "state.url password": (PG_PASSWORD,),
    "http.token": (HTTP_TOKEN,),
}

# Each kind of field a paste can land in: (section, key, value with %s).
FIELDS = {
    "a duration": ("rule", "cooldown", "'%s'"),
    "a number": ("rule", "where", "{amount: {gte: '%s'}}"),
    "a kind": ("rule", "on", "[boost, '%s']"),
    "a notifier name": ("rule", "notify", "[c, '%s']"),
    "a template": ("rule", "message", "'{{ %s }}'"),
    "a stream": ("dexscreener", "streams", "[token-boosts/latest, '%s']"),
    "a source duration": ("dexscreener", "ping_interval", "'%s'"),
    "a default": ("defaults", "cooldown", "'%s'"),
}


def rules_file(folder: Path, secret: str, field: str, through_env: bool = False) -> Path:
    """A rules file with the secret in its place (literal, or `${PASTED}`) and pasted
    literally into the field."""
    value, place, written = SECRETS[secret]
    right = written % ("${PASTED}" if through_env else value)
    section, key, pasted = FIELDS[field]
    wrong = f"{key}: {pasted % value}"

    def mapping(parts: dict[str, str]) -> str:
        return "{" + ", ".join(f"{k}: {v}" for k, v in parts.items()) + "}"

    dex = {"streams": "[token-boosts/latest]"} | ({"headers": right} if place == "headers" else {})
    rule = {"name": "r", "on": "boost", "notify": "[c]"}
    notifiers = {"c": "stdout"} | ({"tg": right} if place == "notifier" else {})
    (dex if section == "dexscreener" else rule if section == "rule" else {})[key] = \
        pasted % value
    sources = {"dexscreener": mapping(dex)}
    if place in ("coinmarketcap", "mobula"):
        sources[place] = right
    lines = ["version: 1", f"sources: {mapping(sources)}", f"notifiers: {mapping(notifiers)}",
             f"rules: [{mapping(rule)}]"]
    if place in ("state", "http"):
        lines.append(f"{place}: {right}")
    if section == "defaults":
        lines.append(f"defaults: {{{wrong}}}")
    folder.mkdir(parents=True, exist_ok=True)
    return write_rules(folder, "\n".join(lines) + "\n")


@pytest.mark.parametrize("through_env", [False, True], ids=["literal", "from-env"])
@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_pasted_into_a_wrong_field_is_masked_in_check_and_run(
        secret: str, field: str, through_env: bool, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    value = SECRETS[secret][0]
    path = rules_file(tmp_path, secret, field, through_env)
    monkeypatch.setenv("PASTED", value)
    assert path.read_text().count(value) == (1 if through_env else 2)  # pasted, and placed
    for command in ("check", "run"):
        assert main([command, str(path)]) == 1
        said = capsys.readouterr()
        printed = said.out + said.err
        assert not [piece for piece in NEVER[secret] if piece in printed], printed
        problems = [line for line in said.err.splitlines() if line.startswith(f"{path}:")
                    and not line.endswith("problem(s) found")]
        assert problems, said.err  # the mistake is still reported, located


@pytest.mark.parametrize("secret", SECRETS)
async def test_a_refused_reload_masks_the_new_files_secrets(secret: str, tmp_path: Path) -> None:
    good = write_rules(tmp_path, "version: 1\nsources: {}\nnotifiers: {c: stdout}\n"
                                 "rules: [{name: r, on: boost, notify: [c]}]\n")
    daemon = Daemon.create(loader.load(good, env={}), TrioClock(), state_path=":memory:")
    bad = rules_file(tmp_path / "new", secret, "a duration")
    result = await daemon.reload_file(str(bad))
    assert not result.applied and result.problems
    assert not [piece for piece in NEVER[secret] for p in result.problems if piece in p]
    assert any("***" in p for p in result.problems), result.problems  # masked, not dropped


async def test_a_reload_that_brings_a_new_key_masks_it_in_later_log_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from rulesd import logs

    good = write_rules(tmp_path, "version: 1\nsources: {}\nnotifiers: {c: stdout}\n"
                                 "rules: [{name: r, on: boost, notify: [c]}]\n")
    daemon = Daemon.create(loader.load(good, env={}), TrioClock(), state_path=":memory:")
    logs.setup(loader.load(good, env={}).secrets)
    try:
        good.write_text(good.read_text().replace("{c: stdout}", f"{{c: stdout, tg: '{TG_URL}'}}"))
        result = await daemon.reload_file(str(good))
        assert result.applied, result
        logging.getLogger("rulesd.test").warning("a line quoting %s and %s", TG_URL, CMC_KEY)
    finally:
        logging.getLogger().handlers.clear()
    line = capsys.readouterr().err.splitlines()[-1]
    assert line.endswith(f"a line quoting *** and {CMC_KEY}"), line  # only what it knows
    assert daemon.delivery.redact(f"x {TG_URL}") == "x ***"


def test_a_key_written_as_a_list_is_refused_in_one_line_and_stays_masked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found by the rules fuzzer: `api_key: [..]` crashed the secret scan."""
    path = write_rules(tmp_path, """\
        version: 1
        sources:
          coinmarketcap:
            api_key: [abcdefghijk123, {x: 1}]
            subscriptions: [{channel: market@crypto_latest_price, params: {crypto_ids: [1]}}]
        notifiers: {c: stdout}
        rules: [{name: r, on: price, notify: [c]}]
        """)
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "expected a string, got a list" in err
    assert "abcdefghijk123" not in err and "Traceback" not in err
