"""Rules as the engine runs them: validated against the kinds' typed schemas, compiled.

Every problem goes to the caller's list with its place in the file. Template
checks are delivery's (see `rulesd.loader`); here are the rules' own semantics:
kinds, conditions and their field types, `for`, `notify_resolved`, notifiers and
groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
import jinja2
import jinja2.meta

from rulesd import security
from rulesd.config import Config, GroupConfig
from rulesd.events import CONTEXT_FIELDS
from rulesd.rules.conditions import compile_where
from rulesd.rules.inhibit import Inhibition, attach, compile_inhibitions
from rulesd.rules.intervals import TimeInterval, compile_intervals
from rulesd.rules.ladder import Ladder, ladder_of
from rulesd.rules.predicates import AbsentSpec, NeedsBuilder, Predicate
from rulesd.schema import Field, Kind
from rulesd.suggest import did_you_mean
from rulesd.yaml_loader import Document, Path, Problem


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
    # The rule's kinds that are levels (fire on becoming true, re-arm once false).
    levels: frozenset[str] = frozenset()
    repeat_s: float = 0.0  # a level alert still firing is sent again this often
    # The condition as written (kinds, `where`, `for`): a reload keeps what a rule was
    # waiting for or firing while this stays the same.
    spec: Any = attrs.field(default=None, eq=False)
    # The rule's kinds whose events it sees only once their lookups answered (it names
    # `market.` or `security.` fields of them), with those lookups: the others' events
    # it sees at once.
    waits_on: Mapping[str, frozenset[str]] = attrs.field(factory=dict, eq=False)
    # `watch`: (for, every) in seconds — poll the tokens it fires for.
    watch: tuple[float, float] | None = None
    # An exponential cooldown: (factor, max); `cooldown` is where it starts.
    cooldown_growth: tuple[float, float] | None = None
    # `rearm`: a firing level speaks again past each further step of its value.
    ladder: Ladder | None = None
    # `inhibit:` entries this rule is a source of, and a target of.
    inhibits: tuple[Inhibition, ...] = ()
    inhibited_by: tuple[Inhibition, ...] = ()
    # Time intervals: muted during `mute`, and outside `active` (when it names some).
    mute: tuple[TimeInterval, ...] = ()
    active: tuple[TimeInterval, ...] = ()
    on_unmute: str = "digest"


# Lookups a rule asks for by naming their fields (`market.price`), in `where` or in
# its templates; the kinds that offer them are those whose schemas declare them.
LOOKUPS: Final = ("market", "security")
# The services behind `security.` fields (their `sources:` sections).
SAFETY_SERVICES: Final = {"goplus": "GoPlus", "rugcheck": "RugCheck"}
_PARSER: Final = jinja2.Environment()
# Watches poll more often than this only by mistake (the budget is 300/min in all).
MIN_WATCH_EVERY_S: Final = 5.0


def _template_names(source: str | None) -> set[str]:
    """The variables a template reads (its syntax errors are the loader's to report)."""
    if not source:
        return set()
    try:
        return set(jinja2.meta.find_undeclared_variables(_PARSER.parse(source)))
    except (jinja2.TemplateError, RecursionError):
        return set()


def _waits_on(kinds: Sequence[str], names: set[str], schemas: Mapping[str, Kind]
              ) -> dict[str, frozenset[str]]:
    """The kinds whose events the rule must see with their lookups' answers, and which
    lookups (market data on DEX Screener's token events, safety on any token's)."""
    out: dict[str, frozenset[str]] = {}
    for kind in kinds:
        schema = schemas.get(kind)
        if schema is None:
            continue
        wanted = frozenset(name for name in LOOKUPS if name in names and (
            "market.price" in schema.fields if name == "market" else schema.token))
        if wanted:
            out[kind] = wanted
    return out


def _safety_problems(names: set[str], configured: set[str]) -> list[tuple[str, str]]:
    """(field, why) for each `security.` field no configured service gives."""
    out = []
    for name in sorted(names):
        head, _, field = name.partition(".")
        if head != "security" or not field:
            continue
        spec = security.FIELDS.get(field)
        services = spec.services if spec is not None else frozenset(SAFETY_SERVICES)
        if services & configured:
            continue
        given = " or ".join(SAFETY_SERVICES[s] for s in sorted(services))
        add = " or ".join(f"`{s}: {{}}`" for s in sorted(services))
        out.append((name, f"`{name}` comes from {given}, and no such service is "
                          f"configured: add {add} under `sources`"))
    return out


def rule_fields(kinds: Sequence[str], schemas: Mapping[str, Kind]) -> dict[str, Field]:
    """The typed fields a rule on `kinds` may use (the union over its kinds)."""
    out: dict[str, Field] = {}
    for kind in kinds:
        for name, field in schemas[kind].all_fields().items():
            out.setdefault(name, field)
    return out


class _FieldsByKinds(dict[tuple[str, ...], dict[str, Field]]):
    """rule_fields, once per combination of kinds in a file."""

    def __init__(self, schemas: Mapping[str, Kind]) -> None:
        super().__init__()
        self.schemas = schemas

    def __missing__(self, kinds: tuple[str, ...]) -> dict[str, Field]:
        fields = self[kinds] = rule_fields(kinds, self.schemas)
        return fields


def compile_rules(config: Config, doc: Document, indexes: Sequence[int],
                  schemas: Mapping[str, Kind], problems: list[Problem]) -> list[Rule]:
    """The enabled rules of `config`, compiled; every problem appended to `problems`."""
    rules: list[Rule] = []
    seen_names: dict[str, int] = {}
    notifiers = set(config.notifiers)
    fields_of = _FieldsByKinds(schemas)

    def report_top(path: Path, message: str, at_key: bool = False) -> None:
        problems.append(doc.problem(path, message, at_key=at_key))

    intervals = compile_intervals(config.time_intervals, report_top)
    for name, spec in config.notifiers.items():
        for key in ("mute_during", "active_during"):
            for j, interval in enumerate(getattr(spec, key)):
                if interval not in intervals:
                    problems.append(doc.problem(("notifiers", name, key, j), f"unknown "
                                                f"time interval {interval!r}"
                                                f"{did_you_mean(interval, intervals)}"))
    for i, rc in zip(indexes, config.rules, strict=True):
        here: Path = ("rules", i)
        if rc.name in seen_names:
            problems.append(doc.problem((*here, "name"), f"duplicate rule name {rc.name!r} "
                                        f"(also rule #{seen_names[rc.name] + 1})"))
        seen_names.setdefault(rc.name, i)
        kinds_ok = True
        for j, kind in enumerate(rc.on):
            if kind not in schemas:
                kinds_ok = False
                at = (*here, "on", j) if len(rc.on) > 1 or (*here, "on", 0) in doc.value_marks \
                    else (*here, "on")
                problems.append(doc.problem(at, f"unknown kind {kind!r}"
                                            f"{did_you_mean(kind, schemas)}"))
        fields = fields_of[rc.on] if kinds_ok and rc.on else None
        levels = frozenset(k for k in rc.on if k in schemas and not schemas[k].occurrence)

        def report(path: Path, message: str, at_key: bool = False, _here: Path = here) -> None:
            problems.append(doc.problem((*_here, "where", *path), message, at_key=at_key))

        needs = NeedsBuilder()
        condition = compile_where(rc.where, fields=fields, kinds=schemas, report=report,
                                  needs=needs)
        if rc.for_ is not None and kinds_ok and not levels:
            problems.append(doc.problem((*here, "for"), "`for` applies to level kinds (price, "
                                        "metrics, pulse_update); these kinds fire per event",
                                        at_key=True))
        if rc.notify_resolved and kinds_ok and not levels and needs.absent is None:
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
        cooldown = rc.cooldown if rc.cooldown is not None else config.defaults.cooldown
        at = (*here, "cooldown") if rc.cooldown is not None else ("defaults", "cooldown")
        if cooldown.factor < 1:
            problems.append(doc.problem(at, "a cooldown's `factor` must be 1 or more (each "
                                        "alert makes the next wait that many times longer)"))
        if cooldown.max is not None and cooldown.max < cooldown.start:
            problems.append(doc.problem(at, "a cooldown's `max` must be at least its `start`"))
        repeat = rc.repeat if rc.repeat is not None else config.defaults.repeat
        if rc.repeat is not None and kinds_ok and not levels and needs.absent is None:
            problems.append(doc.problem((*here, "repeat"), "`repeat` applies to level kinds "
                                        "and `absent`: these kinds fire per event", at_key=True))
        if repeat is not None and 0 < repeat < 60:
            at = (*here, "repeat") if rc.repeat is not None else ("defaults", "repeat")
            problems.append(doc.problem(at, "`repeat` must be at least 1m: a channel would "
                                        "be flooded"))
        if rc.group is not None and fields is not None:
            for j, by in enumerate(rc.group.by):
                head = by.split(".")[0]
                if head not in set(fields) | CONTEXT_FIELDS:
                    problems.append(doc.problem((*here, "group", "by", j),
                                                f"unknown field {head!r} to group by"
                                                f"{did_you_mean(head, fields)}"))
        names = needs.heads | _template_names(rc.title) | _template_names(rc.message)
        waits_on = _waits_on(rc.on, names, schemas) if kinds_ok else {}
        for _, why in _safety_problems(needs.names, set(config.sources) & set(SAFETY_SERVICES)):
            problems.append(doc.problem((*here, "where"), why, at_key=True))
        watch = None
        if rc.watch is not None:
            watch = (float(rc.watch.for_), float(rc.watch.every))
            tokenless = [k for k in rc.on if k in schemas and not schemas[k].token]
            if tokenless:
                problems.append(doc.problem((*here, "watch"), f"`watch` follows the tokens a "
                                            f"rule fires for, and {tokenless[0]} events carry "
                                            "none", at_key=True))
            if rc.watch.every < MIN_WATCH_EVERY_S:
                problems.append(doc.problem((*here, "watch", "every"), "`every` must be at "
                                            "least 5s: every watched token shares DEX "
                                            "Screener's 300 requests a minute"))
            if rc.watch.for_ <= 0:
                problems.append(doc.problem((*here, "watch", "for"), "`for` must be a "
                                            "positive duration (how long to watch)"))
        timed: dict[str, tuple[TimeInterval, ...]] = {}
        for key in ("mute_during", "active_during"):
            found = []
            for j, name in enumerate(getattr(rc, key)):
                if name in intervals:
                    found.append(intervals[name])
                else:
                    problems.append(doc.problem((*here, key, j), f"unknown time interval "
                                                f"{name!r}{did_you_mean(name, intervals)}"
                                                if intervals else f"unknown time interval "
                                                f"{name!r}: name it under `time_intervals`"))
            timed[key] = tuple(found)
        if rc.on_unmute not in ("digest", "drop"):
            problems.append(doc.problem((*here, "on_unmute"), "`on_unmute` is `digest` (one "
                                        "message of what a mute held, when it ends) or "
                                        "`drop`"))
        ladder = None
        if rc.rearm is not None:
            ladder, why_not = ladder_of(rc.rearm, rc.where)
            if why_not:
                problems.append(doc.problem((*here, "rearm"), why_not, at_key=True))
            elif kinds_ok and not levels:
                problems.append(doc.problem((*here, "rearm"), "`rearm` applies to level "
                                            "kinds (price, metrics, pulse_update): these "
                                            "kinds fire per event", at_key=True))
        if rc.enabled:
            rules.append(Rule(rc.name, rc.on, condition, tuple(notify), rc.title, rc.message,
                              float(cooldown.start), float(rc.for_ or 0.0), rc.notify_resolved,
                              needs.absent, needs, rc.group, levels,
                              float(repeat or 0.0) if levels or needs.absent else 0.0,
                              (rc.on, rc.where, rc.for_), waits_on, watch,
                              (cooldown.factor, cooldown.longest)
                              if cooldown.factor > 1 else None, ladder,
                              mute=timed["mute_during"], active=timed["active_during"],
                              on_unmute=rc.on_unmute))
    holds = {r.name: bool(r.levels or r.absent) for r in rules}
    return attach(rules, compile_inhibitions(config.inhibit, holds, doc, problems))
