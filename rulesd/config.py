"""Load and validate the rules file; every problem carries file:line:col.

One path: YAML with marks → `${VAR}` resolved on the parsed values → a private
cattrs converter into frozen classes → semantic checks (kinds, notifiers,
conditions, templates). `load` raises ConfigError listing every problem found.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any, Final

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.gen import make_dict_structure_fn, override

from rulesd.delivery.notifiers import CONSOLE_URL, url_problem
from rulesd.delivery.pacing import parse_rate
from rulesd.delivery.templates import render_problems, template_problems
from rulesd.durations import Duration, parse_duration
from rulesd.events import CONTEXT_FIELDS, KIND_FIELDS, KINDS, OCCURRENCE_KINDS
from rulesd.rules.conditions import AbsentSpec, NeedsBuilder, Predicate, compile_where
from rulesd.source_config import (
    CmcId,
    SourcesConfig,
    check_sources,
    produced_kinds,
    source_secrets,
)
from rulesd.source_config import (
    summary as sources_summary,
)
from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import ConfigError, Document, Path, Problem
from rulesd.yaml_loader import load as load_yaml

_ENV_REF: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@attrs.frozen
class StateConfig:
    path: str = "rulesd-state.db"


@attrs.frozen
class NotifierConfig:
    urls: tuple[str, ...]
    rate: float | None = None  # messages a second; None: the platform's default


@attrs.frozen
class DeliveryConfig:
    # Undelivered alerts are retried this long, then dead-lettered.
    max_age: Duration = Duration(3600.0)
    # Retries back off from `retry_initial`, doubling up to `retry_max`.
    retry_initial: Duration = Duration(2.0)
    retry_max: Duration = Duration(300.0)


@attrs.frozen
class GroupConfig:
    by: tuple[str, ...] = ()
    wait: Duration = Duration(30.0)
    interval: Duration = Duration(300.0)


@attrs.frozen
class Defaults:
    notify: tuple[str, ...] = ()
    cooldown: Duration = Duration(0.0)


@attrs.frozen
class RuleConfig:
    name: str
    on: tuple[str, ...]
    where: Mapping[str, Any] | None = None
    notify: tuple[str, ...] | None = None
    title: str | None = None
    message: str | None = None
    cooldown: Duration | None = None
    enabled: bool = True
    for_: Duration | None = None  # `for:` in the file
    notify_resolved: bool = False
    group: GroupConfig | None = None


@attrs.frozen
class Rule:
    """A validated rule with its defaults applied and its condition compiled."""

    name: str
    kinds: tuple[str, ...]
    condition: Predicate
    notify: tuple[str, ...]
    title: str | None
    message: str | None
    cooldown: float
    for_s: float = 0.0
    notify_resolved: bool = False
    absent: AbsentSpec | None = None
    needs: NeedsBuilder = attrs.field(factory=NeedsBuilder, eq=False)
    group: GroupConfig | None = None


@attrs.frozen
class Config:
    version: int
    sources: SourcesConfig
    rules: tuple[RuleConfig, ...]
    state: StateConfig = StateConfig()
    notifiers: Mapping[str, NotifierConfig] = attrs.field(factory=dict)
    defaults: Defaults = Defaults()
    delivery: DeliveryConfig = DeliveryConfig()


@attrs.frozen
class LoadedConfig:
    """What the daemon runs: the config, its enabled rules, and its secrets."""

    file: str
    config: Config
    rules: tuple[Rule, ...]
    secrets: frozenset[str]
    warnings: tuple[Problem, ...] = ()

    def summary(self) -> str:
        parts = sources_summary(self.config.sources)
        return (
            f"{self.file}: OK: {len(self.rules)} rules enabled, "
            f"sources: {', '.join(parts) or 'none'}, "
            f"notifiers: {', '.join(sorted(self.config.notifiers)) or 'none'}"
        )


def _strict(kind: type, *accept: type) -> Any:
    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise ValueError(f"expected {kind.__name__}, got a boolean")
        if not isinstance(value, accept):
            raise ValueError(f"expected {_NAMES[kind]}, got {_describe(value)}")
        return kind(value)

    return structure


_NAMES: Final = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _one_or_many(value: Any, _: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"expected a name or a list of names, got {_describe(item)}")
    return tuple(items)


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
            raise ValueError(f"expected a mapping, got {_describe(value)}")
        return value

    conv.register_structure_hook_func(lambda t: t == Mapping[str, Any], mapping)

    def strings(value: Any, _: Any) -> Mapping[str, str]:
        for key, item in mapping(value, None).items():
            if not isinstance(item, str):
                raise ValueError(f"{key}: expected a string, got {_describe(item)}")
        return value  # type: ignore[no-any-return]

    conv.register_structure_hook_func(lambda t: t == Mapping[str, str], strings)

    def notifier(value: Any, _: Any) -> NotifierConfig:
        if isinstance(value, str | list):
            return NotifierConfig(urls=_one_or_many(value, None))
        if isinstance(value, dict):
            unknown = set(value) - {"urls", "rate"}
            if unknown:
                name = sorted(unknown)[0]
                raise ForbiddenExtraKeysError(None, NotifierConfig, {name})
            if "urls" not in value:
                raise ValueError("a notifier needs `urls`")
            rate = value.get("rate")
            if rate is not None and not isinstance(rate, str):
                raise ValueError(f"`rate` is like 1/s or 20/min, got {_describe(rate)}")
            return NotifierConfig(urls=_one_or_many(value["urls"], None),
                                  rate=parse_rate(rate) if rate else None)
        raise ValueError(f"expected an Apprise URL, a list of them or {{urls: [...]}}, "
                         f"got {_describe(value)}")

    conv.register_structure_hook(NotifierConfig, notifier)

    long_coin = conv.get_structure_hook(CmcId)

    def coin(value: Any, _: Any) -> CmcId:
        if isinstance(value, str):  # the short form: just the symbol
            return CmcId(symbol=value)
        return long_coin(value, CmcId)  # type: ignore[no-any-return]

    conv.register_structure_hook(CmcId, coin)
    conv.register_structure_hook(RuleConfig, make_dict_structure_fn(
        RuleConfig, conv, _cattrs_forbid_extra_keys=True, for_=override(rename="for")))
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
        name = match.group(1)
        if name not in env:
            problems.append(doc.problem(path, f"environment variable {name} is not set"))
            return ""
        if env[name]:
            found.add(env[name])
        return env[name]

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


# --- semantic checks ----------------------------------------------------------

def _check_rules(
    config: Config, doc: Document, problems: list[Problem], indexes: list[int]
) -> list[Rule]:
    rules: list[Rule] = []
    seen_names: dict[str, int] = {}
    notifiers = set(config.notifiers)
    for i, rc in zip(indexes, config.rules, strict=True):
        here: Path = ("rules", i)
        if rc.name in seen_names:
            problems.append(doc.problem((*here, "name"), f"duplicate rule name {rc.name!r} "
                                        f"(also rule #{seen_names[rc.name] + 1})"))
        seen_names.setdefault(rc.name, i)
        kinds_ok = True
        for j, kind in enumerate(rc.on):
            if kind not in KINDS:
                kinds_ok = False
                at = (*here, "on", j) if len(rc.on) > 1 or (*here, "on", 0) in doc.value_marks \
                    else (*here, "on")
                problems.append(doc.problem(at, f"unknown kind {kind!r}"
                                            f"{did_you_mean(kind, KINDS)}"))
        fields = (
            frozenset().union(*(KIND_FIELDS[k] for k in rc.on)) if kinds_ok and rc.on else None
        )

        def report(path: Path, message: str, at_key: bool = False, _here: Path = here) -> None:
            problems.append(doc.problem((*_here, "where", *path), message, at_key=at_key))

        needs = NeedsBuilder()
        condition = compile_where(rc.where, fields=fields, report=report, needs=needs)
        if rc.for_ is not None and kinds_ok and not set(rc.on) - OCCURRENCE_KINDS:
            problems.append(doc.problem((*here, "for"), "`for` applies to level kinds (price, "
                                        "metrics, pulse_update); these kinds fire per event",
                                        at_key=True))
        if rc.notify_resolved and kinds_ok and not set(rc.on) - OCCURRENCE_KINDS \
                and needs.absent is None:
            problems.append(doc.problem((*here, "notify_resolved"), "`notify_resolved` applies "
                                        "to level kinds and `absent`: these kinds fire per "
                                        "event and never clear", at_key=True))
        notify = rc.notify if rc.notify is not None else config.defaults.notify
        if not notify:
            problems.append(doc.problem(here, f"rule {rc.name!r} has no notifier: add "
                                        "`notify:` to it or `defaults.notify`"))
        for j, name in enumerate(notify):
            if name not in notifiers:
                at = (*here, "notify", j) if rc.notify is not None else ("defaults", "notify", j)
                problems.append(doc.problem(at, f"unknown notifier {name!r}"
                                            f"{did_you_mean(name, notifiers)}"))
        names = (fields or frozenset()) | CONTEXT_FIELDS
        for key in ("title", "message"):
            source = getattr(rc, key)
            if source is None:
                continue
            found = [m for m in template_problems(source, names if fields else ())
                     if fields or "syntax" in m]
            if not found and fields:
                found = render_problems(source, {k: KIND_FIELDS[k] for k in rc.on})
            problems.extend(doc.problem((*here, key), message) for message in found)
        cooldown = rc.cooldown if rc.cooldown is not None else config.defaults.cooldown
        if rc.group is not None and fields is not None:
            for j, by in enumerate(rc.group.by):
                head = by.split(".")[0]
                if head not in fields | CONTEXT_FIELDS:
                    problems.append(doc.problem((*here, "group", "by", j),
                                                f"unknown field {head!r} to group by"
                                                f"{did_you_mean(head, fields)}"))
        if rc.enabled:
            rules.append(Rule(rc.name, rc.on, condition, tuple(notify), rc.title, rc.message,
                              float(cooldown), float(rc.for_ or 0.0), rc.notify_resolved,
                              needs.absent, needs, rc.group))
    return rules


def _check_sources(config: Config, doc: Document, problems: list[Problem]) -> None:
    def report(path: Path, message: str, at_key: bool = False) -> None:
        problems.append(doc.problem(path, message, at_key=at_key))

    check_sources(config.sources, report)


def _warnings(config: Config, rules: list[Rule], doc: Document) -> list[Problem]:
    """Rules that can never fire because no configured source produces their kind."""
    produced = produced_kinds(config.sources)
    out = []
    for i, rule in enumerate(config.rules):
        missing = [k for k in rule.on if k in KINDS and k not in produced]
        if missing and rule.enabled:
            out.append(doc.problem(("rules", i, "on"), f"warning: no configured source produces "
                                   f"{', '.join(missing)} events, so rule {rule.name!r} "
                                   "will not fire on them"))
    return out


def _structure(
    data: dict[str, Any], doc: Document, problems: list[Problem], indexes: list[int]
) -> Config | None:
    """Structure the file; each rule on its own so one bad rule hides no other problem."""
    raw_rules = data.get("rules")
    if "rules" not in data:
        problems.append(doc.problem((), "missing required key 'rules'"))
    elif not isinstance(raw_rules, list):
        problems.append(doc.problem(("rules",), f"`rules` must be a list of rules, got "
                                    f"{_describe(raw_rules)}"))
    rules: list[RuleConfig] = []
    for i, raw in enumerate(raw_rules if isinstance(raw_rules, list) else []):
        try:
            rules.append(_CONVERTER.structure(raw, RuleConfig))
            indexes.append(i)
        except (ClassValidationError, IterableValidationError) as exc:
            problems.extend(_located(exc, ("rules", i), doc))
        except Exception as exc:
            problems.append(doc.problem(("rules", i), f"a rule must be a mapping with `name` "
                                        f"and `on`, got {_describe(raw)}"))
            del exc
    values: dict[str, Any] = {"rules": tuple(rules)}
    fields = attrs.fields_dict(Config)
    for key in data:
        if key not in fields:
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
            values[name] = _CONVERTER.structure(data[name], field.type)
        except (ClassValidationError, IterableValidationError) as exc:
            problems.extend(_located(exc, (name,), doc))
            ok = False
        except Exception as exc:
            problems.extend(_located(exc, (name,), doc))
            ok = False
    if not ok:
        # Check the rules against whatever did structure, to report their problems too.
        values = {k: v for k, v in values.items() if k in ("rules", "notifiers", "defaults")}
        values.setdefault("version", 1)
        values.setdefault("sources", SourcesConfig())
        partial = Config(**values)
        _check_rules(partial, doc, problems, indexes)
        return None
    return Config(**values)


def _ordered(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.mark.line, p.mark.col) if p.mark else (0, 0))


def load(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read and validate a rules file; raise ConfigError listing every problem."""
    file = os.fspath(path)
    try:
        text = FsPath(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(file, None, f"cannot read the rules file: {exc}")]) from exc
    return loads(text, file, os.environ if env is None else env)


def loads(text: str, file: str, env: Mapping[str, str]) -> LoadedConfig:
    doc = load_yaml(text, file)
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.problem((), "the rules file must be a mapping with `version`, "
                                       "`sources` and `rules`")])
    problems: list[Problem] = []
    secrets: set[str] = set()
    data = _resolve_env(doc.data, doc, env, (), secrets, problems)
    indexes: list[int] = []
    config = _structure(data, doc, problems, indexes)
    if config is None:
        raise ConfigError(_ordered(problems))
    if config.version != 1:
        problems.append(doc.problem(("version",), f"unsupported version {config.version}; "
                                    "this rulesd reads version 1"))
    for name, notifier in config.notifiers.items():
        secrets.update(u for u in notifier.urls if u != CONSOLE_URL)
        if not notifier.urls:
            problems.append(doc.problem(("notifiers", name), "a notifier needs at least one URL"))
        already = {p.mark for p in problems}
        if CONSOLE_URL in notifier.urls and len(notifier.urls) > 1:
            problems.append(doc.problem(("notifiers", name), f"`{CONSOLE_URL}` is the console "
                                        "notifier: give it a name of its own"))
        for j, url in enumerate(notifier.urls):
            problem = url_problem(url)
            if problem:
                at = ("notifiers", name, j) if ("notifiers", name, j) in doc.value_marks else (
                    "notifiers", name, "urls", j)
                if doc.mark(at) not in already:  # not when a ${VAR} in it is missing
                    problems.append(doc.problem(at, f"notifier {name!r}: {problem}"))
    secrets.update(source_secrets(config.sources))
    _check_sources(config, doc, problems)
    rules = _check_rules(config, doc, problems, indexes)
    if problems:
        raise ConfigError(_ordered(problems))
    return LoadedConfig(file, config, tuple(rules), frozenset(secrets),
                        tuple(_warnings(config, rules, doc)))
