"""`rulesd check`'s view of rules files: every problem located at file:line:col."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rulesd import loader as config
from rulesd.cli import main
from rulesd.rules.predicates import Evaluation
from rulesd.yaml_loader import ConfigError
from tests.helpers import HOSTILE_BASE, HOSTILE_FILES

VALID = """\
version: 1
sources:
  dexscreener:
    streams: [token-boosts/latest, community-takeovers/latest]
notifiers:
  console: stdout
  hook: json://127.0.0.1:9/x
defaults:
  notify: [console]
rules:
  - name: solana-boost
    on: boost
    where:
      chain: solana
      amount: {gte: 100}
    title: "Boost {{ token.symbol or token.address }}"
  - name: claims
    on: [takeover]
    notify: [hook]
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    try:
        config.loads(textwrap.dedent(text), "rules.yaml", env or {})
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_the_valid_file_loads() -> None:
    loaded = config.loads(VALID, "rules.yaml", {})
    assert [r.name for r in loaded.rules] == ["solana-boost", "claims"]
    assert loaded.rules[0].notify == ("console",)
    assert loaded.rules[1].kinds == ("takeover",)


def test_the_example_rules_file_is_valid() -> None:
    example = Path(__file__).parent.parent / "rules.example.yaml"
    loaded = config.load(example, env={})
    assert loaded.rules and "dexscreener" in loaded.sources
    assert not loaded.warnings


# (change to VALID, expected "line:col: message fragment")
BROKEN = [
    pytest.param(("  - name: claims", "  - name: claims\n    oon: takeover"),
                 "18:5: unknown key 'oon' (did you mean 'on'?)", id="unknown-rule-key"),
    pytest.param(("version: 1", "version: 1\nsourcse: {}"),
                 "2:1: unknown key 'sourcse' (did you mean 'sources'?)", id="unknown-top-key"),
    pytest.param(("    on: boost", "    on: boots"),
                 "12:9: unknown kind 'boots' (did you mean 'boost'?)", id="unknown-kind"),
    pytest.param(("notify: [hook]", "notify: [hoook]"),
                 "19:14: unknown notifier 'hoook' (did you mean 'hook'?)", id="unknown-notifier"),
    pytest.param(("  - name: claims", "  - name: solana-boost"),
                 "17:11: duplicate rule name 'solana-boost'", id="duplicate-rule"),
    pytest.param(("      chain: solana", "      chain: solana\n      chain: base"),
                 "15:7: duplicate key 'chain' (first defined at line 14)", id="duplicate-key"),
    pytest.param(("{gte: 100}", "{gte: lots}"),
                 "15:21: `gte` needs a number, got 'lots'", id="wrong-operator-type"),
    pytest.param(("{gte: 100}", "{gtee: 100}"),
                 "15:16: unknown operator 'gtee' (did you mean 'gte'?)", id="unknown-operator"),
    pytest.param(("      amount:", "      amout:"),
                 "15:7: unknown field 'amout' for this rule's kinds (did you mean 'amount'?)",
                 id="unknown-field"),
    pytest.param(("{{ token.symbol or token.address }}", "{{ token.symbol or }}"),
                 "16:12: template syntax error", id="template-syntax"),
    pytest.param(("{{ token.symbol or token.address }}", "{{ amout }}"),
                 "16:12: template uses unknown variable 'amout'", id="template-variable"),
    pytest.param(("hook: json://127.0.0.1:9/x", "hook: json://${HOOK_HOST}/x"),
                 "7:9: environment variable HOOK_HOST is not set", id="missing-env"),
    pytest.param(("version: 1", "version: yes"),
                 "1:10: expected an integer, got 'yes'", id="yaml11-boolean"),
    pytest.param(("    on: [takeover]", "    on: [takeover]\n    enabled: off"),
                 "19:14: expected true or false, got 'off'", id="off-is-not-false"),
    pytest.param(("notify: [hook]", "notify: [hook]\n    cooldown: 10 minutes"),
                 "20:15: expected a duration like 30s, 10m or 1h", id="bad-duration"),
    pytest.param(("streams: [token-boosts/latest,", "streams: [token-boosts/latset,"),
                 "4:15: unknown DEX Screener stream 'token-boosts/latset' "
                 "(did you mean 'token-boosts/latest'?)", id="unknown-stream"),
    pytest.param(("hook: json://127.0.0.1:9/x", "hook: nope://x"),
                 "7:9: notifier 'hook': Apprise cannot use this nope:// URL", id="bad-url"),
    pytest.param(("console: stdout", "console: [stdout, 'json://127.0.0.1:9/y']"),
                 "6:12: `stdout` is the console notifier: give it a name of its own",
                 id="stdout-in-a-list"),
    pytest.param(("  - name: claims", "  - name: [claims]"),
                 "17:11: expected a string, got a list", id="wrong-type"),
    pytest.param(("    on: [takeover]\n", "    on: [takeover]\n    where: {change: {}}\n"),
                 "19:21: `change` needs `of`", id="stateful-arguments"),
    pytest.param(("      chain: solana", "      chain: [solana, base]"),
                 "14:14: a list needs an operator: write `chain: {in: [...]}`", id="bare-list"),
    pytest.param(("{gte: 100}", "{matches: '(unclosed'}"),
                 "15:25: `matches`: invalid regular expression", id="bad-regex"),
    pytest.param(("version: 1", "version: 2"),
                 "1:10: unsupported version 2", id="version"),
    pytest.param(("  dexscreener:\n", "  dexscreener:\n    refresh: 0\n"),
                 "4:14: `refresh` must be at least 1s", id="refresh-floor"),
    pytest.param(("  dexscreener:\n", "  dexscreener:\n    headers: {Origin: 5}\n"),
                 "4:14: Origin: expected a string, got 5", id="header-type"),
    pytest.param(("streams: [token-boosts/latest,",
                  "streams: [token-boosts/latest, token-boosts/latest,"),
                 "4:36: 'token-boosts/latest' is listed twice", id="stream-twice"),
    pytest.param(("  dexscreener:\n", "  dexscreener:\n    url: https://x\n"),
                 "4:10: the url must start with ws:// or wss://", id="ws-url"),
    pytest.param(("  - name: claims", "  - name: claims\n    notify: []\n  - name: x"),
                 "17:5: missing required key 'on'", id="missing-on"),
]


@pytest.mark.parametrize(("change", "expected"), BROKEN)
def test_broken_files_are_reported_at_the_right_place(
    change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in VALID
    found = problems(VALID.replace(old, new, 1))
    assert any(p.startswith(f"rules.yaml:{expected}") for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    text = (VALID.replace("on: boost", "on: boots")
            .replace("notify: [hook]", "notify: [hoook]")
            .replace("{gte: 100}", "{gte: lots}")
            .replace("version: 1", "version: 1\nsourcse: {}"))
    found = problems(text)
    assert len(found) == 4, found
    assert found == sorted(found, key=lambda p: int(p.split(":")[1]))


def test_yaml_syntax_error_is_located() -> None:
    found = problems("version: 1\nrules: [\n  {name: a\n")
    assert len(found) == 1 and found[0].startswith("rules.yaml:4:1: YAML syntax error")


def test_on_is_a_key_not_a_boolean() -> None:
    loaded = config.loads(VALID, "rules.yaml", {})
    assert loaded.config.rules[0].on == ("boost",)


def test_leading_zero_is_decimal_not_octal() -> None:
    text = VALID.replace("amount: {gte: 100}", "amount: {gte: 0123}")
    loaded = config.loads(text, "rules.yaml", {})
    assert loaded.rules[0].condition(Evaluation({"chain": "solana", "amount": 123}))
    assert not loaded.rules[0].condition(Evaluation({"chain": "solana", "amount": 83}))


def test_env_values_are_secrets_and_never_in_messages() -> None:
    text = VALID.replace("hook: json://127.0.0.1:9/x", "hook: nope://${TOKEN}/x")
    found = problems(text, {"TOKEN": "s3cr3t-token"})
    assert found and not any("s3cr3t" in p for p in found)
    ok = config.loads(VALID.replace("json://127.0.0.1:9/x", "json://${TOKEN}@127.0.0.1:9/x"),
                      "rules.yaml", {"TOKEN": "s3cr3t-token"})
    assert "s3cr3t-token" in ok.secrets


def test_check_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(VALID)
    assert main(["check", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "OK" in out and "2 rules" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(VALID.replace("on: boost", "on: boots"))
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:12:9: unknown kind 'boots'" in err
    assert main(["check", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot read the rules file" in capsys.readouterr().err


def test_rule_for_a_kind_no_source_produces_is_a_warning() -> None:
    loaded = config.loads(VALID.replace("on: [takeover]", "on: [ad]"), "rules.yaml", {})
    assert [str(w) for w in loaded.warnings] == [
        "rules.yaml:18:9: warning: no configured source produces ad events, so rule 'claims' "
        "will not fire on them"]


yaml_chars = st.sampled_from([*"abc:-[]{}, \n'\"#&*!|>%@`0123456789.~$",
                              "on", "yes", "rules", "version", "name", "where", "${X}"])


@settings(max_examples=300)
@given(st.lists(yaml_chars, max_size=60).map("".join))
def test_any_text_is_a_config_or_located_problems(text: str) -> None:
    """Whatever a user's editor saves, `check` answers with problems, never a traceback."""
    try:
        config.loads(text, "rules.yaml", {})
    except ConfigError as exc:
        assert exc.problems and all(str(p).startswith("rules.yaml") for p in exc.problems)


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(["name", "on", "where", "notify", "title", "cooldown",
                                        "enabled", "message", "x"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                                 st.lists(st.text(max_size=5), max_size=2),
                                 st.dictionaries(st.text(max_size=5), st.integers(),
                                                 max_size=2)),
                       max_size=8))
def test_any_rule_shape_is_accepted_or_reported(rule: dict[str, object]) -> None:
    import yaml

    text = VALID.split("rules:")[0] + yaml.safe_dump({"rules": [rule]})
    try:
        config.loads(text, "rules.yaml", {})
    except ConfigError as exc:
        assert all(p.mark is not None for p in exc.problems)


def test_the_examples_commented_out_in_the_example_file_are_valid() -> None:
    """Uncommenting the CoinMarketCap and Token Metrics examples gives a valid file."""
    import re

    example = (Path(__file__).parent.parent / "rules.example.yaml").read_text()
    enabled = re.sub(r"(?m)^  # (?=coinmarketcap:|tokenmetrics:|  |- name:)", "  ", example)
    enabled = re.sub(r"(?m)^  # (?=mobula:)", "  ", enabled)
    loaded = config.loads(enabled, "rules.example.yaml",
                          {"CMC_API_KEY": "k1", "TOKENMETRICS_API_KEY": "k2",
                           "MOBULA_API_KEY": "k3"})
    assert set(loaded.sources) == {"coinmarketcap", "tokenmetrics", "dexscreener", "mobula"}
    assert {r.name for r in loaded.rules} >= {"btc-above-100k", "big-buys", "btc-5m-move",
                                              "boosted-and-pumping", "fresh-and-boosted"}
    assert not loaded.warnings


@pytest.mark.parametrize(("body", "message"), HOSTILE_FILES)
def test_hostile_files_are_located_problems_never_tracebacks(
        body: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(HOSTILE_BASE + body)
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and message in err, err


@pytest.mark.parametrize("value", [".nan", ".inf", "-1s", "20y"])
def test_durations_are_finite_and_bounded(value: str) -> None:
    found = problems(VALID.replace("  dexscreener:\n", f"  dexscreener:\n    refresh: {value}\n"))
    assert len(found) == 1 and found[0].startswith("rules.yaml:4:14: "), found


def test_sizes_are_bounded() -> None:
    text = VALID.replace("  dexscreener:\n", "  dexscreener:\n    max_message_size: 1" + "0" * 400
                         + "\n")
    (found,) = problems(text)
    assert "`max_message_size` must be at most" in found


def test_a_secret_in_a_field_of_the_wrong_type_is_not_printed() -> None:
    text = VALID.replace("  dexscreener:\n", "  dexscreener:\n    max_message_size: ${KEY}\n")
    found = problems(text, {"KEY": "sekrit-value-123"})
    assert found and not any("sekrit" in p for p in found), found


def test_a_damaged_state_file_says_the_way_out(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state.db"
    state.write_bytes(b"not a database, not at all" * 100)
    rules = tmp_path / "rules.yaml"
    rules.write_text(VALID.replace("version: 1\n", f"version: 1\nstate: {{path: {state}}}\n"))
    assert main(["run", str(rules)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"move it aside (mv {state} {state}.damaged)" in err and "fresh baseline" in err


def test_a_section_with_nothing_under_it_takes_the_defaults() -> None:
    loaded = config.loads(VALID.replace(
        "  dexscreener:\n    streams: [token-boosts/latest, community-takeovers/latest]\n",
        "  dexscreener:\n"), "rules.yaml", {})
    assert len(loaded.sources["dexscreener"].streams) == 6


@pytest.mark.parametrize(("old", "new", "message"), [
    ("version: 1\n", "version: 1\nstate: -.inf\n", "rules.yaml:2:8: expected a mapping, got -inf"),
    ("defaults:\n  notify: [console]\n", "defaults: [notify, console]\n",
     "rules.yaml:8:11: expected a mapping, got a list"),
    ("notifiers:\n  console: stdout\n  hook: json://127.0.0.1:9/x\n", "notifiers: [console]\n",
     "rules.yaml:5:12: expected a mapping of names, got a list"),
])
def test_a_section_of_the_wrong_shape_says_so_in_plain_words(
        old: str, new: str, message: str) -> None:
    """Not a Python error text ("'list' object has no attribute 'keys'")."""
    assert old in VALID
    found = problems(VALID.replace(old, new))
    assert message in found, found


@pytest.mark.parametrize(("ids", "expected"), [
    ("[[1, 1027]]", ["7:31: `crypto_ids` takes CoinMarketCap ids, whole numbers such as 1 (BTC) "
                     "or 1027 (ETH), got a list (write one list: `crypto_ids: [1, 1027]`)"]),
    # Symbols pass a lax check and fail only live, against a paid key.
    ("[BTC, eth]", ["7:31: `crypto_ids` takes CoinMarketCap ids, whole numbers such as 1 (BTC) "
                    "or 1027 (ETH), got 'BTC': 'BTC' is a symbol, its id is 1",
                    "7:36: `crypto_ids` takes CoinMarketCap ids, whole numbers such as 1 (BTC) "
                    "or 1027 (ETH), got 'eth': 'eth' is a symbol, its id is 1027"]),
    ("[1, PEPE, 0]", ["7:34: `crypto_ids` takes CoinMarketCap ids, whole numbers such as 1 "
                      "(BTC) or 1027 (ETH), got 'PEPE' (a coin's id is on its CoinMarketCap "
                      "page, or from the API's /v1/cryptocurrency/map)",
                      "7:40: `crypto_ids` takes CoinMarketCap ids, whole numbers such as 1 "
                      "(BTC) or 1027 (ETH), got 0 (a coin's id is on its CoinMarketCap page, "
                      "or from the API's /v1/cryptocurrency/map)"]),
    ("[1, 1027]", []),
    ("1", []),
])
def test_coinmarketcap_crypto_ids_are_ids_each_wrong_one_located(ids: str,
                                                                  expected: list[str]) -> None:
    text = VALID.replace("sources:\n", "sources:\n  coinmarketcap:\n    api_key: k\n"
                         "    subscriptions:\n      - channel: market@crypto_latest_price\n"
                         f"        params: {{crypto_ids: {ids}}}\n")
    assert problems(text) == [f"rules.yaml:{e}" for e in expected]


def test_a_notifier_name_cannot_look_like_one_of_its_urls() -> None:
    found = problems(VALID.replace("  console: stdout\n", "  console: stdout\n  team#2: stdout\n"))
    assert found == ["rules.yaml:7:3: a notifier name cannot hold '#' ('team#2'): rulesd "
                     "names each URL of a notifier `name#1`, `name#2`"], found


@pytest.mark.parametrize(("rule", "message"), [
    ("{name: r, on: boost, repeat: 1h}", "`repeat` applies to level kinds and `absent`"),
    ("{name: r, on: price, repeat: 30s}", "`repeat` must be at least 1m"),
])
def test_repeat_is_for_levels_and_not_a_flood(rule: str, message: str) -> None:
    text = VALID.replace("sources:\n",
                         "sources:\n  tokenmetrics: {api_key: k, tokens: [bitcoin]}\n")
    found = problems(text + f"  - {rule}\n")
    assert any(message in p for p in found), found


def test_a_relative_state_path_is_relative_to_the_rules_file(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    rules = folder / "rules.yaml"
    rules.write_text(VALID.replace("version: 1\n", "version: 1\nstate: {path: s.db}\n"))
    assert config.load(rules, env={}).config.state.path == str(folder / "s.db")
    rules.write_text(VALID.replace("version: 1\n", "version: 1\nstate: {path: /x/s.db}\n"))
    assert config.load(rules, env={}).config.state.path == "/x/s.db"


@pytest.mark.parametrize(("value", "env", "url", "problem"), [
    ("${HOOK:-json://127.0.0.1:9/default}", {}, "json://127.0.0.1:9/default", None),
    ("${HOOK:-json://127.0.0.1:9/default}", {"HOOK": ""}, "json://127.0.0.1:9/default", None),
    ("${HOOK:-json://127.0.0.1:9/default}", {"HOOK": "json://127.0.0.1:9/set"},
     "json://127.0.0.1:9/set", None),
    ("${HOOK:?set HOOK to your webhook}", {}, None,
     "rules.yaml:7:9: HOOK: set HOOK to your webhook"),
])
def test_env_defaults_and_required_messages_as_shells_do(
        value: str, env: dict[str, str], url: str | None, problem: str | None) -> None:
    text = VALID.replace("hook: json://127.0.0.1:9/x", f"hook: '{value}'")
    if problem is None:
        loaded = config.loads(textwrap.dedent(text), "rules.yaml", env)
        assert loaded.config.notifiers["hook"].urls == (url,)
    else:
        assert problem in problems(text, env)


def test_check_reports_every_independent_problem_in_one_run() -> None:
    """A bad value neither hides its rule's other problems (a misspelled field, an
    unknown template variable, a duplicate name) nor cascades to its neighbours."""
    text = """\
version: 1
sources: {dexscreener: {}}
notifiers:
  console: stdout
  team: {urls: ["json://127.0.0.1:9/x"], rate: fast}
defaults: {notify: [console]}
rules:
  - name: r1
    on: boost
    where: {amount: {gte: many}, amuont: 5}
    message: "{{ nope }}"
  - name: r1
    on: boost
    cooldown: soon
    notify: [team]
"""
    assert problems(text) == [
        "rules.yaml:5:9: expected a rate like 1/s or 20/min, got 'fast'",
        "rules.yaml:10:27: `gte` needs a number, got 'many'",
        "rules.yaml:10:34: unknown field 'amuont' for this rule's kinds (did you mean "
        "'amount'?)",
        "rules.yaml:11:14: template uses unknown variable 'nope'",
        "rules.yaml:12:11: duplicate rule name 'r1' (also rule #1)",
        "rules.yaml:14:15: expected a duration like 30s, 10m or 1h, got 'soon'",
    ]


def test_rules_can_share_settings_through_x_keys_and_merge_keys() -> None:
    text = VALID.replace("rules:\n", """\
x-solana: &solana
  on: boost
  where: {chain: solana}
  cooldown: 1h
rules:
  - <<: *solana
    name: merged-boost
  - <<: *solana
    name: merged-boost-2
    cooldown: 10m
""", 1)
    rules = {r.name: r for r in config.loads(text, "rules.yaml", {}).rules}
    assert rules["merged-boost"].cooldown == 3600 and rules["merged-boost-2"].cooldown == 600
    broken = text.replace("on: boost", "on: boots", 1)
    # Once, where it is written, though both rules merge it.
    assert problems(broken) == [
        "rules.yaml:11:7: unknown kind 'boots' (did you mean 'boost'?)"], problems(broken)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path / "rules.yaml"


MAIN = """\
    version: 1
    sources: {dexscreener: {}}
    include: [rules.d/*.yaml]
    notifiers: {console: stdout}
    defaults: {notify: [console]}
    rules:
      - {name: main-rule, on: boost}
    """


def test_include_splits_rules_and_notifiers_over_files(tmp_path: Path) -> None:
    path = _tree(tmp_path, {"rules.yaml": MAIN,
                            "rules.d/a.yaml": """\
                                notifiers: {team: "json://127.0.0.1:9/x"}
                                rules:
                                  - {name: a-rule, on: takeover, notify: [team]}
                                """,
                            "rules.d/b.yaml": "rules: [{name: b-rule, on: profile}]\n"})
    loaded = config.load(path, env={})
    assert [r.name for r in loaded.rules] == ["main-rule", "a-rule", "b-rule"]
    assert set(loaded.config.notifiers) == {"console", "team"}


def test_include_locates_every_problem_in_the_file_it_is_in(tmp_path: Path) -> None:
    path = _tree(tmp_path, {"rules.yaml": MAIN.replace("[rules.d/*.yaml]",
                                                       "[rules.d/*.yaml, none/*.yaml]"),
                            "rules.d/a.yaml": """\
                                notifiers: {console: "json://127.0.0.1:9/x"}
                                rules:
                                  - {name: main-rule, on: boost}
                                """,
                            "rules.d/b.yaml": """\
                                sources: {}
                                rules:
                                  - name: b-rule
                                    on: boots
                                """})
    with pytest.raises(ConfigError) as info:
        config.load(path, env={})
    a, b = tmp_path / "rules.d" / "a.yaml", tmp_path / "rules.d" / "b.yaml"
    assert [str(p) for p in info.value.problems] == [
        f"{path}:3:27: 'none/*.yaml' matches no file",
        f"{a}:1:13: notifier 'console' is also defined in {path}",
        f"{a}:3:12: duplicate rule name 'main-rule' (also rule #1)",
        f"{b}:1:1: an included file holds `rules` and `notifiers`, not 'sources'",
        f"{b}:4:9: unknown kind 'boots' (did you mean 'boost'?)",
    ]


def test_state_url_is_checked_for_its_form_without_connecting() -> None:
    def state(body: str) -> list[str]:
        return problems(f"version: 1\nstate:\n{body}\nsources: {{dexscreener: {{}}}}\n"
                        "notifiers: {out: stdout}\n"
                        "rules: [{name: b, on: boost, notify: [out]}]\n")

    assert state("  url: postgresql://rulesd@db.internal:5432/rulesd") == []
    assert state("  url: postgres://db.internal/rulesd\n  lease: 30s") == []
    [wrong] = state("  url: mysql://db/rulesd")
    assert wrong.startswith("rules.yaml:3:8: ") and "postgresql://" in wrong
    [both] = state("  path: rulesd-state.db\n  url: postgresql://db/rulesd")
    assert both.startswith("rules.yaml:3:3: ") and "exclude each other" in both
    [garbled] = state("  url: 'postgresql://db/rulesd?sslmode'")
    assert "not a valid PostgreSQL URL" in garbled
    [short] = state("  url: postgresql://db/rulesd\n  lease: 1s")
    assert short.startswith("rules.yaml:4:10: ") and "between 2s and 5m" in short


def test_the_password_of_a_state_url_is_a_secret() -> None:
    loaded = config.loads("version: 1\nstate: {url: 'postgresql://rulesd:${PGPASS}@db/rulesd'}"
                          "\nsources: {dexscreener: {}}\n"
                          "notifiers: {out: stdout}\n"
                        "rules: [{name: b, on: boost, notify: [out]}]\n",
                          "rules.yaml", {"PGPASS": "hunter2"})
    assert loaded.config.state.url == "postgresql://rulesd:hunter2@db/rulesd"
    assert "hunter2" in loaded.secrets
    from rulesd.state.backends import describe

    assert describe(loaded.config.state) == "postgresql://rulesd@db/rulesd"


def test_a_change_window_the_vendor_lacks_points_to_rulesds_own_change() -> None:
    """`change_1h` on CoinMarketCap's price: the nearest name (`change_1y`) is a yearly
    change; the answer is a `change` condition over a 1h window."""
    text = VALID.replace("sources:\n", "sources:\n  coinmarketcap:\n    api_key: k\n"
                         "    subscriptions:\n      - channel: market@crypto_latest_price\n"
                         "        params: {crypto_ids: [1]}\n")
    found = problems(text + "  - {name: hourly, on: price, where: {change_1h: {gte: 5}}}\n")
    assert len(found) == 1 and found[0].endswith(
        "unknown field 'change_1h' for this rule's kinds: this kind carries no 1h change; "
        "rulesd computes one over any window: `change: {of: price, window: 1h, pct: "
        "{gte: 5}}`"), found
    assert "change_1y" not in found[0]
