"""Load a rules file as the daemon runs it: structured, checked, compiled.

`rulesd.config` structures the file; here each configured source structures
and checks its own section (through the registry), the rules are compiled
against the kinds' typed schemas, notifier URLs and templates are checked by
delivery. `load` raises ConfigError listing every problem, in file order.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs

from rulesd import config as config_mod
from rulesd.config import Config
from rulesd.delivery.notifiers import CONSOLE_URL, privacy_url, url_problem
from rulesd.delivery.templates import template_check, template_problems
from rulesd.enrich import config as safety_config
from rulesd.redact import Redactor
from rulesd.rules.compile import Rule, compile_rules
from rulesd.schema import Kind
from rulesd.sources import KINDS, SOURCES, UNWATCHED_KINDS
from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import ConfigError, Document, Path, Problem


@attrs.frozen
class LoadedConfig:
    """What the daemon runs: the config, each source's config, the enabled rules, secrets."""

    file: str
    config: Config
    sources: Mapping[str, Any]  # vendor name → its structured config (configured only)
    rules: tuple[Rule, ...]
    secrets: frozenset[str]
    warnings: tuple[Problem, ...] = ()
    # The safety services configured under `sources` (goplus, rugcheck): not streams.
    lookups: Mapping[str, Any] = attrs.field(factory=dict)

    def summary(self) -> str:
        parts = [SOURCES[name].describe(cfg) for name, cfg in self.sources.items()]
        return (
            f"{self.file}: OK: {len(self.rules)} rules enabled, "
            f"sources: {', '.join(parts) or 'none'}, "
            + (f"safety: {', '.join(self.lookups)}, " if self.lookups else "")
            + f"notifiers: {', '.join(sorted(self.config.notifiers)) or 'none'}"
            + (f", state: {_shared(self.config.state.url)} (shared: one instance leads)"
               if self.config.state.url else "")
        )


def _shared(url: str) -> str:
    from rulesd.state.postgres import display

    return display(url)


def load(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read and validate a rules file; raise ConfigError listing every problem."""
    with _collector_paused():
        return _check(config_mod.read(path, env))


def loads(text: str, file: str, env: Mapping[str, str]) -> LoadedConfig:
    with _collector_paused():
        return _check(config_mod.parse(text, file, env))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading builds hundreds of thousands of small objects and no cycles worth
    collecting: the cyclic collector would spend longer than the load (10k rules)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check(parsed: config_mod.Parsed) -> LoadedConfig:
    doc, config = parsed.doc, parsed.config
    problems = list(parsed.problems)
    secrets = set(parsed.secrets) | file_secrets(parsed.data)
    sources, lookups = _sources(config, doc, problems)
    rules = compile_rules(config, doc, parsed.rule_indexes, schemas_for(config), problems)
    _templates(config, doc, parsed.rule_indexes, problems)
    if parsed.complete:
        _notifiers(config, doc, problems)
        _control(config, doc, problems)
        _state(config, doc, problems)
    # A secret in a field of the wrong type must not print its value.
    redact = Redactor(secrets)
    if problems or not parsed.complete:
        raise ConfigError([attrs.evolve(p, message=redact(p.message))
                           for p in config_mod.ordered(problems, doc.file)])
    config = attrs.evolve(config, state=attrs.evolve(
        config.state, path=state_path(config.state.path, doc.file)))
    return LoadedConfig(doc.file, config, sources, tuple(rules), frozenset(secrets),
                        tuple(attrs.evolve(w, message=redact(w.message))
                              for w in _warnings(config, sources, doc)), lookups)


def state_path(path: str, rules_file: str) -> str:
    """`state.path` as written is relative to the rules file's folder, not to wherever
    a command runs: `rulesd outbox /etc/rulesd/rules.yaml` finds the daemon's database
    from any directory."""
    if path == ":memory:" or os.path.isabs(path):
        return path
    return os.path.join(os.path.dirname(rules_file), path)


def file_secrets(data: Any) -> set[str]:
    """The values of the file's secret-bearing keys, literal or from `${VAR}`, read from
    the document before any check speaks: a key pasted into a wrong field as well is
    masked there too, whichever section fails to structure. API keys (each source's
    `secret_keys`), authorization headers, notifier URLs that hold a token, the state
    URL's password (the whole URL while it cannot be read) and `http.token`."""
    if not isinstance(data, Mapping):
        return set()
    found: set[object] = set()  # whatever was written; the strings are kept
    sources = data.get("sources")
    for name, section in (sources.items() if isinstance(sources, Mapping) else ()):
        if not isinstance(section, Mapping):
            continue
        source = SOURCES.get(name)
        for key in source.secret_keys if source else ("api_key",):
            value = section.get(key)  # a list pasted in: each of its strings
            found.update(v for v in (value if isinstance(value, list) else [value])
                         if isinstance(v, str))
        headers = section.get("headers")
        if isinstance(headers, Mapping):
            found.update(v for k, v in headers.items()
                         if isinstance(v, str) and _SECRET_HEADER.search(str(k)))
    notifiers = data.get("notifiers")
    for spec in (notifiers.values() if isinstance(notifiers, Mapping) else ()):
        if isinstance(spec, Mapping) and isinstance(spec.get("secret"), str):
            found.add(spec["secret"])
        urls = spec.get("urls") if isinstance(spec, Mapping) else spec
        for url in urls if isinstance(urls, list) else [urls]:
            if isinstance(url, str) and url != CONSOLE_URL and privacy_url(url) != url:
                found.add(url)
    state = data.get("state")
    url = state.get("url") if isinstance(state, Mapping) else None
    if isinstance(url, str) and url:
        from rulesd.state.postgres import password
        from rulesd.state.postgres import url_problem as postgres_url_problem

        found.add(password(url) or (url if postgres_url_problem(url) else None))
    http = data.get("http")
    found.add(http.get("token") if isinstance(http, Mapping) else None)
    control = data.get("control")
    telegram = control.get("telegram") if isinstance(control, Mapping) else None
    found.add(telegram.get("bot") if isinstance(telegram, Mapping) else None)
    return {value for value in found if isinstance(value, str) and value}


# Request headers that carry credentials (an `Origin` or `User-Agent` is no secret).
_SECRET_HEADER: Final = re.compile(r"(?i)auth|key|token|secret|cookie|password")


def _state(config: Config, doc: Document, problems: list[Problem]) -> None:
    """`state`: `path` or `url` (its form only: `run` says when it cannot connect)."""
    state = config.state
    written = doc.data.get("state") if isinstance(doc.data, dict) else None
    if state.url is not None:
        from rulesd.state.postgres import url_problem as postgres_url_problem

        if isinstance(written, dict) and "path" in written:
            problems.append(doc.problem(
                ("state", "path"), "`path` (an SQLite file, one daemon) and `url` "
                "(PostgreSQL, several daemons) exclude each other: keep one", at_key=True))
        problem = postgres_url_problem(state.url)
        if problem is not None:
            problems.append(doc.problem(("state", "url"), problem))
    if not 2.0 <= state.lease <= 300.0:
        problems.append(doc.problem(("state", "lease"), "the lease is between 2s and 5m "
                                    "(the leader renews it every second)"))


def _sources(config: Config, doc: Document, problems: list[Problem]
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each source's section structured into its config class and checked by it; the
    safety services' sections apart (they are asked, not streamed)."""
    def report(path: Path, message: str, at_key: bool = False) -> None:
        problems.append(doc.problem(path, message, at_key=at_key))

    out: dict[str, Any] = {}
    lookups: dict[str, Any] = {}
    for name, raw in config.sources.items():
        service = safety_config.SERVICES.get(name)
        if service is not None:
            structured = config_mod.structure_section(raw, service, ("sources", name), doc,
                                                      problems)
            if structured is not None:
                safety_config.check(name, structured, report)
                lookups[name] = structured
            continue
        source = SOURCES.get(name)
        if source is None:
            known = {*SOURCES, *safety_config.SERVICES}
            report(("sources", name), f"unknown source {name!r}{did_you_mean(name, known)}",
                   True)
            continue
        structured = config_mod.structure_section(raw, source.config_type, ("sources", name),
                                                  doc, problems)
        if structured is None:
            continue
        source.check(structured, report)
        out[name] = structured
    return out, lookups


def _notifiers(config: Config, doc: Document, problems: list[Problem]) -> None:
    for name, notifier in config.notifiers.items():
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


def _control(config: Config, doc: Document, problems: list[Problem]) -> None:
    """`control.telegram`: somebody must be allowed to act, somewhere."""
    telegram = config.control.telegram if config.control is not None else None
    if telegram is None:
        return
    here: Path = ("control", "telegram")
    if not telegram.bot.strip():
        problems.append(doc.problem((*here, "bot"), "the bot's token is empty"))
    for key, what in (("admins", "Telegram user ids allowed to act"),
                      ("chats", "chats the bot answers in")):
        if not getattr(telegram, key):
            problems.append(doc.problem((*here, key), f"`{key}` needs at least one id: "
                                        f"the {what}"))


def schemas_for(config: Config) -> Mapping[str, Kind]:
    """The kinds' fields as this file's events carry them (a watch's polls add theirs
    to `price` only where some rule watches, or the chat may: `/watch`)."""
    return KINDS if _watching(config) else UNWATCHED_KINDS


def _watching(config: Config) -> bool:
    """Whether tokens may be watched: a rule with `watch`, or a control bot."""
    chat = config.control is not None and config.control.telegram is not None
    return chat or any(rule.watch is not None and rule.enabled for rule in config.rules)


def _templates(config: Config, doc: Document, indexes: tuple[int, ...],
               problems: list[Problem]) -> None:
    """Titles and messages: syntax always; names and a sample render when the kinds
    are known."""
    schemas = schemas_for(config)
    for i, rc in zip(indexes, config.rules, strict=True):
        kinds = {k: schemas[k] for k in rc.on if k in schemas}
        known = len(kinds) == len(rc.on) and bool(kinds)
        for key in ("title", "message"):
            source = getattr(rc, key)
            if source is None:
                continue
            found = template_check(source, kinds) if known else [
                m for m in template_problems(source, ()) if "syntax" in m]
            problems.extend(doc.problem(("rules", i, key), message) for message in found)


def _warnings(config: Config, sources: Mapping[str, Any], doc: Document) -> list[Problem]:
    """What will run but not as meant: rules no configured source feeds, and what
    each source warns of."""
    out: list[Problem] = []

    def report(path: Path, message: str, at_key: bool = False) -> None:
        out.append(doc.problem(path, message, at_key=at_key))

    produced = {"source_up", "source_down"}
    for name, cfg in sources.items():
        produced |= SOURCES[name].produces(cfg)
        SOURCES[name].warnings(cfg, report)
    if _watching(config):
        produced.add("price")  # a watch's polls (DEX Screener's REST API)
    for i, rule in enumerate(config.rules):
        missing = [k for k in rule.on if k in KINDS and k not in produced]
        if missing and rule.enabled:
            report(("rules", i, "on"), f"warning: no configured source produces "
                                       f"{', '.join(missing)} events, so rule {rule.name!r} "
                                       "will not fire on them")
    return config_mod.ordered(out)
