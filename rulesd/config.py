"""The rules file's structure: YAML with marks → `${VAR}` resolved on the parsed
values → a private cattrs converter into frozen classes, every problem located.

This is the bottom of the configuration: it knows no vendor, rule semantics or
template. `rulesd.loader` adds those checks on top (through the source
registry, `rules.compile` and `delivery`).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.gen import make_dict_structure_fn, make_mapping_structure_fn, override

from rulesd.durations import Duration, parse_duration, parse_rate
from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import ConfigError, Document, Path, Problem, describe_value
from rulesd.yaml_loader import load as load_yaml

T = TypeVar("T")
# ${VAR}, ${VAR:-default} (when unset or empty), ${VAR:?message} (an error when so).
_ENV_REF: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}")


@attrs.frozen
class StateConfig:
    path: str = "rulesd-state.db"  # SQLite (one daemon)
    url: str | None = None  # PostgreSQL (several daemons, one leader) instead of `path`
    # How long a leader's lease lasts unrenewed (it renews every second and stops
    # leading after half of it without a renewal).
    lease: Duration = Duration(10.0)


@attrs.frozen
class NotifierConfig:
    urls: tuple[str, ...]
    rate: float | None = None  # messages a second; None: the platform's default
    secret: str | None = None  # a webhook's HMAC key
    # Named time intervals it is quiet during / only speaks during (`rulesd.delivery.mutes`).
    mute_during: tuple[str, ...] = ()
    active_during: tuple[str, ...] = ()
    on_unmute: str = "digest"


@attrs.frozen
class DeliveryConfig:
    # Undelivered alerts are retried this long, then dead-lettered.
    max_age: Duration = Duration(3600.0)
    # Retries back off from `retry_initial`, doubling up to `retry_max`.
    retry_initial: Duration = Duration(2.0)
    retry_max: Duration = Duration(300.0)


DEFAULT_LISTEN: Final = "127.0.0.1:9464"


@attrs.frozen
class HttpConfig:
    """The daemon's HTTP endpoint: metrics, health, status API and page, silences."""

    listen: str = DEFAULT_LISTEN  # host:port, or `off`
    # Needed by reload and silences when `listen` is not a loopback address.
    token: str | None = None

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port), or None when off; ValueError when `listen` is neither."""
        if self.listen == "off":
            return None
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"`listen` is host:port (e.g. {DEFAULT_LISTEN}) or off, "
                             f"got {self.listen!r}")
        return host.strip("[]"), int(port)


@attrs.frozen
class GroupConfig:
    by: tuple[str, ...] = ()
    wait: Duration = Duration(30.0)
    interval: Duration = Duration(300.0)


@attrs.frozen
class Cooldown:
    """`cooldown:` — a duration, or `{start: 10m, factor: 2, max: 4h}`: each alert for
    the same key within the wait makes the next wait `factor` times longer, up to
    `max`; a quiet `max` starts it over."""

    start: Duration
    factor: float = 1.0
    max: Duration | None = None

    @property
    def longest(self) -> float:
        return float(self.max if self.max is not None else self.start)


@attrs.frozen
class InhibitConfig:
    """One `inhibit:` entry (`rulesd.rules.inhibit`)."""

    source: tuple[str, ...]
    target: tuple[str, ...]
    equal: tuple[str, ...] = ("token",)
    for_: Duration | None = None  # `for:` in the file


@attrs.frozen
class TelegramControl:
    """`control.telegram`: the bot that takes commands in the operators' chats."""

    bot: str  # its token: a secret
    admins: tuple[int, ...]  # Telegram user ids allowed to act
    chats: tuple[int, ...]  # chats it answers in
    api: str = "https://api.telegram.org"


@attrs.frozen
class ControlConfig:
    telegram: TelegramControl | None = None


@attrs.frozen
class Defaults:
    notify: tuple[str, ...] = ()
    cooldown: Cooldown = Cooldown(Duration(0.0))
    repeat: Duration | None = None


@attrs.frozen
class WatchConfig:
    """`watch:` on a rule: poll the tokens it fires for, this long, this often."""

    for_: Duration = Duration(86400.0)  # `for:` in the file
    every: Duration = Duration(30.0)


@attrs.frozen
class RuleConfig:
    name: str
    on: tuple[str, ...]
    where: Mapping[str, Any] | None = None
    notify: tuple[str, ...] | None = None
    title: str | None = None
    message: str | None = None
    cooldown: Cooldown | None = None
    enabled: bool = True
    for_: Duration | None = None  # `for:` in the file
    notify_resolved: bool = False
    group: GroupConfig | None = None
    # A level alert still firing is sent again this often (Alertmanager's repeat_interval).
    repeat: Duration | None = None
    watch: WatchConfig | None = None
    # `rearm: {every: 10%}`: checked and compiled with the rule (`rulesd.rules.ladder`).
    rearm: Mapping[str, Any] | None = None
    # Named time intervals: silent during these, or only during those; what a mute held
    # is sent as one digest when it ends (`digest`) or not at all (`drop`).
    mute_during: tuple[str, ...] = ()
    active_during: tuple[str, ...] = ()
    on_unmute: str = "digest"


@attrs.frozen
class Config:
    version: int
    # Vendor name → its section as written: each source structures and checks its own.
    sources: Mapping[str, Any]
    rules: tuple[RuleConfig, ...]
    state: StateConfig = StateConfig()
    notifiers: Mapping[str, NotifierConfig] = attrs.field(factory=dict)
    defaults: Defaults = Defaults()
    delivery: DeliveryConfig = DeliveryConfig()
    http: HttpConfig = HttpConfig()
    inhibit: tuple[InhibitConfig, ...] = ()
    # Alertmanager's time intervals, as written (`rulesd.rules.intervals` reads them).
    time_intervals: Any = None
    control: ControlConfig | None = None


def _strict(kind: type, *accept: type) -> Any:
    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise ValueError(f"expected {kind.__name__}, got a boolean")
        if not isinstance(value, accept):
            raise ValueError(f"expected {_NAMES[kind]}, got {describe_value(value)}")
        return kind(value)

    return structure


_NAMES: Final = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _one_or_many(value: Any, _: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"expected a name or a list of names, got {describe_value(item)}")
    return tuple(items)


def _not_a_mapping(value: Any) -> Any:
    raise ValueError(f"expected a mapping, got {describe_value(value)}")


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(str, _strict(str, str))
    conv.register_structure_hook(int, _strict(int, int))
    conv.register_structure_hook(float, _strict(float, int, float))
    conv.register_structure_hook(bool, _strict(bool, bool))
    conv.register_structure_hook(Duration, lambda v, _: Duration(parse_duration(v)))
    conv.register_structure_hook_func(lambda t: t == tuple[str, ...], _one_or_many)

    def mapping(value: Any, _: Any) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise ValueError(f"expected a mapping, got {describe_value(value)}")
        return value

    conv.register_structure_hook_func(lambda t: t == Mapping[str, Any], mapping)

    def strings(value: Any, _: Any) -> Mapping[str, str]:
        for key, item in mapping(value, None).items():
            if not isinstance(item, str):
                raise ValueError(f"{key}: expected a string, got {describe_value(item)}")
        return value  # type: ignore[no-any-return]

    conv.register_structure_hook_func(lambda t: t == Mapping[str, str], strings)

    def notifier(value: Any, _: Any) -> NotifierConfig:
        if isinstance(value, str | list):
            return NotifierConfig(urls=_one_or_many(value, None))
        if isinstance(value, dict):
            unknown = set(value) - {"urls", "rate", "secret", "mute_during",
                                    "active_during", "on_unmute"}
            if unknown:
                name = sorted(unknown)[0]
                raise ForbiddenExtraKeysError(None, NotifierConfig, {name})
            if "urls" not in value:
                raise ValueError("a notifier needs `urls`")
            rate = value.get("rate")
            if rate is not None and not isinstance(rate, str):
                raise ValueError(f"`rate` is like 1/s or 20/min, got {describe_value(rate)}")
            secret = value.get("secret")
            if secret is not None and not isinstance(secret, str):
                raise ValueError(f"`secret` is a string, got {describe_value(secret)}")
            quiet = {key: _one_or_many(value[key], None)
                     for key in ("mute_during", "active_during") if key in value}
            on_unmute = value.get("on_unmute", "digest")
            if on_unmute not in ("digest", "drop"):
                raise ValueError("`on_unmute` is `digest` (one message of what a mute held, "
                                 "when it ends) or `drop`")
            return NotifierConfig(urls=_one_or_many(value["urls"], None),
                                  rate=parse_rate(rate) if rate else None, secret=secret,
                                  on_unmute=on_unmute, **quiet)
        raise ValueError(f"expected an Apprise URL, a list of them or {{urls: [...]}}, "
                         f"got {describe_value(value)}")

    conv.register_structure_hook(NotifierConfig, notifier)

    def short_form(cls: type) -> Any:
        """Classes with `from_short` also accept a bare string (e.g. a coin's symbol)."""
        long_form: Any = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True)

        def structure(value: Any, _: Any) -> Any:
            if isinstance(value, str):
                return cls.from_short(value)  # type: ignore[attr-defined]
            return long_form(value, cls)

        return structure

    def sections(cls: type) -> Any:
        """A section (an attrs class): a mapping, or nothing at all for its defaults
        (`dexscreener:` with nothing under it)."""
        fields: Any = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True)

        def structure(value: Any, _: Any) -> Any:
            if value is None:
                value = {}
            elif not isinstance(value, dict):
                raise ValueError(f"expected a mapping, got {describe_value(value)}")
            return fields(value, cls)

        return structure

    def named(mapping_type: Any) -> Any:
        """A mapping of names (notifiers): refused plainly when it is not a mapping."""
        items: Any = make_mapping_structure_fn(mapping_type, conv)

        def structure(value: Any, _: Any) -> Any:
            if not isinstance(value, dict):
                raise ValueError(f"expected a mapping of names, got {describe_value(value)}")
            return items(value, mapping_type)

        return structure

    conv.register_structure_hook_factory(attrs.has, sections)
    conv.register_structure_hook_factory(
        lambda t: t == Mapping[str, NotifierConfig], named)
    conv.register_structure_hook_factory(lambda t: hasattr(t, "from_short"), short_form)
    conv.register_structure_hook(RuleConfig, make_dict_structure_fn(
        RuleConfig, conv, _cattrs_forbid_extra_keys=True, for_=override(rename="for")))
    growing: Any = make_dict_structure_fn(Cooldown, conv, _cattrs_forbid_extra_keys=True)

    def cooldown(value: Any, _: Any) -> Cooldown:
        if isinstance(value, dict):
            return growing(value, Cooldown)  # type: ignore[no-any-return]
        return Cooldown(Duration(parse_duration(value)))

    conv.register_structure_hook(Cooldown, cooldown)
    conv.register_structure_hook(InhibitConfig, make_dict_structure_fn(
        InhibitConfig, conv, _cattrs_forbid_extra_keys=True, for_=override(rename="for")))
    watch: Any = make_dict_structure_fn(WatchConfig, conv, _cattrs_forbid_extra_keys=True,
                                        for_=override(rename="for"))
    conv.register_structure_hook(WatchConfig, lambda v, _: watch(
        v if isinstance(v, dict) else _not_a_mapping(v), WatchConfig))
    return conv


_CONVERTER: Final = _make_converter()
attrs.resolve_types(Config)


# --- environment references -------------------------------------------------

def _resolve_env(
    data: Any, doc: Document, env: Mapping[str, str], path: Path, found: set[str],
    problems: list[Problem],
) -> Any:
    """`data` with every `${VAR}` in strings replaced; the values go to `found`."""
    if isinstance(data, dict):
        return {k: _resolve_env(v, doc, env, (*path, k), found, problems) for k, v in data.items()}
    if isinstance(data, list):
        return [_resolve_env(v, doc, env, (*path, i), found, problems) for i, v in enumerate(data)]
    if not isinstance(data, str) or "${" not in data:
        return data

    def substitute(match: re.Match[str]) -> str:
        name, how, word = match.groups()
        value = env.get(name)
        if not value and how == ":-":
            return word  # a default written in the file is no secret
        if not value and how == ":?":
            problems.append(doc.problem(path, f"{name}: {word or 'not set'}"))
            return ""
        if value is None:
            problems.append(doc.problem(path, f"environment variable {name} is not set"))
            return ""
        if value:
            found.add(value)
        return value

    return _ENV_REF.sub(substitute, data)


# --- cattrs errors → located problems ----------------------------------------

# Attributes whose YAML key is a Python keyword.
_YAML_NAMES: Final = {"for_": "for"}


def _located(exc: BaseException, path: Path, doc: Document) -> list[Problem]:
    if isinstance(exc, ClassValidationError | IterableValidationError):
        out: list[Problem] = []
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            step = note.name if hasattr(note, "name") else note.index
            step = _YAML_NAMES.get(step, step) if isinstance(step, str) else step
            out.extend(_located(sub, (*path, step), doc))
        for sub in without:
            out.extend(_located(sub, path, doc))
        return out
    if isinstance(exc, ForbiddenExtraKeysError):
        known = [_YAML_NAMES.get(a.name, a.name) for a in attrs.fields(exc.cl)] \
            if attrs.has(exc.cl) else []
        return [
            doc.problem((*path, key), f"unknown key {key!r}{did_you_mean(key, known)}",
                        at_key=True)
            for key in sorted(exc.extra_fields)
        ]
    if isinstance(exc, KeyError):
        return [doc.problem(path[:-1], f"missing required key {path[-1]!r}")]
    return [doc.problem(path, str(exc))]


_INCLUDED_KEYS: Final = ("rules", "notifiers")


def _with_includes(doc: Document, problems: list[Problem]) -> Document:
    """The file with the rules and notifiers of the files its `include` names (globs
    relative to it, each in name order), every value marked in the file it is in."""
    data = dict(doc.data)
    patterns = data.pop("include")
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        problems.append(doc.problem(("include",), "`include` is a glob or a list of globs "
                                    "(e.g. [rules.d/*.yaml])"))
        return Document(data, doc.file, doc.value_marks, doc.key_marks)
    # Absent in the main file: the included files may bring them. Of the wrong type:
    # left as written, for the usual located problem.
    rules = list(data.get("rules") or []) if isinstance(data.get("rules", []), list) else None
    notifiers = dict(data.get("notifiers") or {}) \
        if isinstance(data.get("notifiers", {}), dict) else None
    value_marks, key_marks = dict(doc.value_marks), dict(doc.key_marks)
    files: dict[Path, str] = {}
    origin = {name: doc.file for name in notifiers or {}}
    base = FsPath(doc.file).parent
    for j, pattern in enumerate(patterns):
        found = sorted(glob.glob(str(base / pattern)))
        if not found:
            problems.append(doc.problem(("include", j), f"{pattern!r} matches no file"))
        for path in found:
            try:
                sub = load_yaml(FsPath(path).read_text(encoding="utf-8"), path)
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(doc.problem(("include", j), f"cannot read {path}: {exc}"))
                continue
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            if not isinstance(sub.data, dict):
                problems.append(sub.problem((), "an included file holds `rules` and/or "
                                            "`notifiers`"))
                continue
            for key in sub.data:
                if key not in _INCLUDED_KEYS and not str(key).startswith("x-"):
                    problems.append(sub.problem((key,), f"an included file holds `rules` and "
                                                f"`notifiers`, not {key!r}", at_key=True))
            offset = len(rules) if rules is not None else 0
            if isinstance(sub.data.get("rules"), list) and rules is not None:
                rules.extend(sub.data["rules"])
                for k in range(len(sub.data["rules"])):
                    files[("rules", offset + k)] = path
            for name in sub.data.get("notifiers") or {}:
                if notifiers is None or not isinstance(sub.data["notifiers"], dict):
                    break
                if name in notifiers:
                    problems.append(sub.problem(("notifiers", name), f"notifier {name!r} is "
                                                f"also defined in {origin[name]}", at_key=True))
                    continue
                notifiers[name], origin[name] = sub.data["notifiers"][name], path
                files[("notifiers", name)] = path
            for marks, into in ((sub.value_marks, value_marks), (sub.key_marks, key_marks)):
                for at, mark in marks.items():
                    if at[:1] == ("rules",) and len(at) > 1 and isinstance(at[1], int):
                        into[("rules", offset + at[1], *at[2:])] = mark
                    elif at[:1] == ("notifiers",) and len(at) > 1 \
                            and files.get(("notifiers", at[1])) == path:
                        into[at] = mark
    if rules is not None:
        data["rules"] = rules
    if notifiers is not None:
        data["notifiers"] = notifiers
    return Document(data, doc.file, value_marks, key_marks, files)


def _failing_keys(exc: BaseException) -> set[str]:
    """The keys (as written in the file) whose values did not structure."""
    if not isinstance(exc, ClassValidationError):
        return set()
    with_notes, without = exc.group_exceptions()
    if without:
        return set()
    return {_YAML_NAMES.get(note.name, note.name) for _, note in with_notes
            if hasattr(note, "name")}


def _notifiers(raw: dict[str, Any], doc: Document, problems: list[Problem]
               ) -> dict[str, NotifierConfig]:
    """Each notifier on its own: one bad `rate` must not make the rules that name the
    good ones report them unknown."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            out[name] = _CONVERTER.structure(value, NotifierConfig)
        except Exception as exc:
            problems.extend(_located(exc, ("notifiers", name), doc))
            out[name] = NotifierConfig(urls=("stdout",))  # known, so not "unknown" again
    return out


def _structure(
    data: dict[str, Any], doc: Document, problems: list[Problem], indexes: list[int]
) -> tuple[Config, bool]:
    """Structure the file; each rule on its own so one bad rule hides no other problem.
    When a section does not structure, a partial Config (with every rule that did) is
    returned with False, so the rules' problems are reported too."""
    raw_rules = data.get("rules")
    if "rules" not in data:
        problems.append(doc.problem((), "missing required key 'rules'"))
    elif not isinstance(raw_rules, list):
        problems.append(doc.problem(("rules",), f"`rules` must be a list of rules, got "
                                    f"{describe_value(raw_rules)}"))
    rules: list[RuleConfig] = []
    for i, raw in enumerate(raw_rules if isinstance(raw_rules, list) else []):
        try:
            rules.append(_CONVERTER.structure(raw, RuleConfig))
            indexes.append(i)
        except (ClassValidationError, IterableValidationError) as exc:
            problems.extend(_located(exc, ("rules", i), doc))
            # Check the rest of the rule too (its name, kinds, conditions, templates):
            # one bad value must not hide the rule's other problems. The file is
            # refused anyway; the rule only serves the checks.
            bad = _failing_keys(exc)
            if isinstance(raw, dict) and bad and not bad & {"name", "on"}:
                try:
                    rules.append(_CONVERTER.structure(
                        {k: v for k, v in raw.items() if k not in bad}, RuleConfig))
                    indexes.append(i)
                except Exception:
                    pass
        except Exception as exc:
            problems.append(doc.problem(("rules", i), f"a rule must be a mapping with `name` "
                                        f"and `on`, got {describe_value(raw)}"))
            del exc
    values: dict[str, Any] = {"rules": tuple(rules)}
    fields = attrs.fields_dict(Config)
    for key in data:
        # `x-…` keys are the user's own (anchors for `<<` merges), as in compose files.
        if key not in fields and not (isinstance(key, str) and key.startswith("x-")):
            problems.append(doc.problem((key,), f"unknown key {key!r}"
                                        f"{did_you_mean(key, fields)}", at_key=True))
    ok = True
    for name, field in fields.items():
        if name == "rules":
            continue
        if name not in data:
            if field.default is attrs.NOTHING:
                problems.append(doc.problem((), f"missing required key {name!r}"))
                ok = False
            continue
        try:
            assert field.type is not None
            if name == "notifiers" and isinstance(data[name], dict):
                values[name] = _notifiers(data[name], doc, problems)
            else:
                values[name] = _CONVERTER.structure(data[name], field.type)
        except (ClassValidationError, IterableValidationError) as exc:
            problems.extend(_located(exc, (name,), doc))
            ok = False
        except Exception as exc:
            problems.extend(_located(exc, (name,), doc))
            ok = False
    if not ok:
        values = {k: v for k, v in values.items() if k in ("rules", "notifiers", "defaults")}
        values.setdefault("version", 1)
        values.setdefault("sources", {})
    return Config(**values), ok


def ordered(problems: list[Problem], main: str | None = None) -> list[Problem]:
    """Problems in the order of the files (`main` first, then the included ones by
    name), each once (a value merged into several rules with `<<` is one problem, at
    the line where it is written)."""
    def key(p: Problem) -> tuple[bool, str, int, int]:
        line, col = (p.mark.line, p.mark.col) if p.mark else (0, 0)
        return (p.file != main, p.file, line, col)

    return sorted(dict.fromkeys(problems), key=key)


@attrs.frozen
class Parsed:
    """A rules file, structured as far as it would go, with what was wrong with it."""

    doc: Document
    config: Config
    complete: bool  # False: a section did not structure; `config` is partial
    rule_indexes: tuple[int, ...]  # each structured rule's position in the file
    secrets: frozenset[str]  # the values of ${VAR}s, masked in logs
    problems: tuple[Problem, ...]
    data: Any = None  # the document with its ${VAR}s resolved


def structure_section(value: Any, cls: type[T], path: Path, doc: Document,
                      problems: list[Problem]) -> T | None:
    """A section the core does not know (a vendor's) structured into `cls`."""
    try:
        return _CONVERTER.structure(value, cls)
    except Exception as exc:
        problems.extend(_located(exc, path, doc))
        return None


def read(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Parsed:
    """Read and structure a rules file (ConfigError when it cannot be read at all)."""
    file = os.fspath(path)
    try:
        text = FsPath(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(file, None, f"cannot read the rules file: {exc}")]) from exc
    return parse(text, file, os.environ if env is None else env)


def parse(text: str, file: str, env: Mapping[str, str]) -> Parsed:
    doc = load_yaml(text, file)
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.problem((), "the rules file must be a mapping with `version`, "
                                       "`sources` and `rules`")])
    problems: list[Problem] = []
    secrets: set[str] = set()
    if "include" in doc.data:
        doc = _with_includes(doc, problems)
    data = _resolve_env(doc.data, doc, env, (), secrets, problems) \
        if "${" in text or doc.files else doc.data
    indexes: list[int] = []
    config, complete = _structure(data, doc, problems, indexes)
    if complete and config.version != 1:
        problems.append(doc.problem(("version",), f"unsupported version {config.version}; "
                                    "this rulesd reads version 1"))
    for name, notifier in config.notifiers.items():
        if not notifier.urls:
            problems.append(doc.problem(("notifiers", name), "a notifier needs at least one URL"))
        if "#" in name:  # `team#2` names the second URL of `team`
            problems.append(doc.problem(("notifiers", name), f"a notifier name cannot hold "
                                        f"'#' ({name!r}): rulesd names each URL of a "
                                        f"notifier `name#1`, `name#2`", at_key=True))
    try:
        config.http.address  # noqa: B018 - the check is the property itself
    except ValueError as exc:
        problems.append(doc.problem(("http", "listen"), str(exc)))
    return Parsed(doc, config, complete, tuple(indexes), frozenset(secrets), tuple(problems),
                  data)
