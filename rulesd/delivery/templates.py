"""Alert titles and messages: sandboxed Jinja2 with vendor values escaped.

Every `{{ expression }}` passes through the target format's escaping, so a
value that came from a vendor can never become markup; the literal text of a
user's template is theirs and is sent as written.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs
import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment

from rulesd.delivery.escaping import Format, neutralize
from rulesd.durations import format_duration
from rulesd.events import CONTEXT_FIELDS
from rulesd.rules import why
from rulesd.rules.alert import Alert
from rulesd.schema import Field, Kind
from rulesd.sources import KINDS

log = logging.getLogger(__name__)

DEFAULT_TITLE: Final = (
    "{% if resolved %}Resolved: {% endif %}"
    "{% if why and why.absent %}Silent: {% else %}{{ kind_label }}: {% endif %}"
    "{{ token.symbol or token.address or token.key if token else source + ' ' + stream }}"
    "{% if token and token.chain %} on {{ token.chain }}{% endif %}"
)
_DEFAULT_HEADER: Final = (
    "{% if why_text %}{{ why_text }}\n{% endif %}"
    "{% if market %}price {{ market.price | usd }} · liquidity {{ market.liquidity | usd }}"
    " · market cap {{ market.market_cap | usd }} · pair age {{ market.pair_age | duration }}"
    "{% if market.dex %} ({{ market.dex }}){% endif %}\n{% endif %}"
    "{% if security %}safety: honeypot {{ security.honeypot | yesno }} · sell tax "
    "{{ security.sell_tax | pct }} · mintable {{ security.mintable | yesno }} · top 10 hold "
    "{{ security.top10_share | pct }} · LP locked {{ security.lp_locked | pct }}"
    "{% if security.rugged %} · RUGGED{% endif %} ({{ security.checked_by | join(', ') "
    "or 'no service answered' }})\n{% endif %}"
)
_DEFAULT_FOOTER: Final = (
    "{% if token and token.address %}\n{{ token.chain }} {{ token.address }}{% endif %}"
    "{% if url %}\n{{ url }}{% endif %}"
    "\n[{{ rule }} · {{ source }}]"
)


# Names a template may use besides the fields of its rule's kinds.
TEMPLATE_NAMES: Final = frozenset({"rule", "kind_label", "why", "why_text", "resolved", "key"})



class Unknown:
    """A looked-up value the vendor did not give: shown as `unknown`, false in an `if`,
    and never greater or smaller than anything."""

    __slots__ = ()

    def __str__(self) -> str:
        return "unknown"

    def __bool__(self) -> bool:
        return False

    def _never(self, other: Any) -> bool:
        return False

    __lt__ = __le__ = __gt__ = __ge__ = _never


UNKNOWN: Final = Unknown()
# Looked-up objects whose missing values templates show as unknown (not as nothing).
LOOKED_UP: Final = ("market", "security")


class _Known(dict[str, Any]):
    def __getitem__(self, key: str) -> Any:
        value = super().get(key)
        return UNKNOWN if value is None else value


def usd(value: Any) -> Any:
    """US dollars as a person reads them ($81,234.5; $0.0023910); unknown stays so."""
    shown = format_number(value)
    return f"${shown}" if shown is not value else value


def yesno(value: Any) -> Any:
    """A flag as `yes`/`no`; unknown stays so."""
    return ("yes" if value else "no") if isinstance(value, bool) else value


def pct(value: Any) -> Any:
    """A percentage as `12.5%`; unknown stays so."""
    shown = format_number(value)
    return f"{shown}%" if shown is not value else value


def duration(value: Any) -> Any:
    """Seconds as `2h5m`; anything else unchanged."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return format_duration(value)


def _finalizer(fmt: Format) -> Any:
    def finalize(value: Any) -> Any:
        if value is None or isinstance(value, jinja2.Undefined):
            return ""
        if isinstance(value, Unknown):
            return "unknown"
        if isinstance(value, bool | int | float):
            return value
        return neutralize(str(value), fmt)

    return finalize


def format_number(value: Any) -> Any:
    """A number as a person reads it: 1,234,567 or 0.00012345 (8 significant digits);
    anything else unchanged. Used by the default messages, by type, not by name."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return f"{value:,.8g}"


FILTERS: Final = {"number": format_number, "usd": usd, "duration": duration,
                  "yesno": yesno, "pct": pct}


def _environment(fmt: Format) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        autoescape=False,
        finalize=_finalizer(fmt),
        undefined=jinja2.ChainableUndefined,
        keep_trailing_newline=False,
    )
    env.filters.update(FILTERS)
    return env


_ENVIRONMENTS: Final[dict[str, SandboxedEnvironment]] = {
    fmt: _environment(fmt) for fmt in ("text", "markdown")
}


@functools.lru_cache(maxsize=1024)
def _compiled(fmt: Format, source: str) -> jinja2.Template:
    """Templates compile once per format, not once per alert."""
    return _ENVIRONMENTS[fmt].from_string(source)


_STRICT: Final = SandboxedEnvironment(autoescape=False, undefined=jinja2.StrictUndefined)
_STRICT.filters.update(FILTERS)


def kind_label(kind: str) -> str:
    schema = KINDS.get(kind)
    return schema.label if schema is not None and schema.label else kind


def default_body(kind: str) -> str:
    """The default message body of a kind: its sentence, else its headline fields."""
    schema = KINDS.get(kind)
    if schema is None:
        return "{{ kind }}"
    if schema.sentence is not None:
        return schema.sentence
    fields = schema.all_fields()
    lines = []
    for name in schema.headline:
        field = fields[name]
        shown = f"{{{{ {name} | number }}}}" if field.type == "number" else f"{{{{ {name} }}}}"
        unit = f" {field.unit}" if field.unit and field.type == "number" else ""
        lines.append(f"{{% if {name} is not none %}}{name}: {shown}{unit}\n{{% endif %}}")
    return "".join(lines) or "{{ kind }}"


def _sample(name: str, field: Field) -> Any:
    """A value of the field's type."""
    if field.type == "number":
        return 1.0
    if field.type == "bool":
        return False
    if field.type == "time":
        return 1735689600.0 if field.unit == "epoch seconds" else "2025-01-01T00:00:00Z"
    if field.type == "list":
        return [{"type": "twitter", "label": None, "url": "https://x.com/s"}]
    if field.type == "object":
        return collections.defaultdict(lambda: 1.0)
    return "sample"


def sample_values(kind: str, fields: Mapping[str, Field]) -> dict[str, Any]:
    """A plausible event of `kind`, to render templates against at `rulesd check`."""
    values: dict[str, Any] = {}
    for name, field in fields.items():
        head, _, rest = name.partition(".")
        if rest:  # a typed object's part (`market.price`)
            values.setdefault(head, {})[rest] = _sample(name, field)
        else:
            values[name] = _sample(name, field)
    token = {"key": "solana:Sample", "chain": "solana", "address": "Sample", "symbol": "SMPL",
             "name": "Sample", "cmc_id": 1, "slug": "sample"}
    return {**values, "kind": kind, "source": "sample", "stream": "sample", "ts": 0.0,
            "token": token, "rule": "rule", "kind_label": kind_label(kind),
            "why": why.sample(kind), "why_text": "", "resolved": False, "key": token["key"]}


def render_problems(source: str, kinds: Mapping[str, Mapping[str, Field]]) -> list[str]:
    """Why `source` fails on a sample event of each kind (kind → its fields)."""
    try:
        template = _STRICT.from_string(source)
    except jinja2.TemplateSyntaxError:
        return []  # reported by template_problems
    problems = []
    for kind, fields in kinds.items():
        try:
            template.render(sample_values(kind, fields))
        except Exception as exc:
            problems.append(f"template fails on a sample {kind} event: {exc}")
    return problems


def template_problems(source: str, names: Iterable[str]) -> list[str]:
    """Why `source` would not render: syntax errors and unknown variables."""
    env = _ENVIRONMENTS["text"]
    try:
        ast = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return [f"template syntax error (template line {exc.lineno}): {exc.message}"]
    known = set(names) | TEMPLATE_NAMES
    try:
        undeclared = jinja2.meta.find_undeclared_variables(ast)
    except jinja2.TemplateError as exc:  # an unknown filter or test: `{{ x | intcomma }}`
        return [f"template error: {exc.message or exc}"]
    except RecursionError:
        return ["template error: nested too deeply"]
    return [f"template uses unknown variable {name!r}" for name in sorted(undeclared - known)]


@attrs.frozen
class Rendered:
    title: str
    body: str
    tail: int = 0  # the body's last characters a cut must keep (the default footer)
    error: str | None = None  # the rule's template failed: this is the default text
    alert_id: str | None = None  # a single alert's (a notifier may act on it: buttons)


@attrs.frozen
class RuleTemplates:
    """The title and message templates of one rule, compiled for each format."""

    title: str | None
    message: str | None

    def render(self, kind: str, values: Mapping[str, Any], fmt: Format) -> Rendered:
        """Render for `fmt`; a template that fails falls back to the default text."""
        scope = {"kind_label": kind_label(kind), **values}
        for name in LOOKED_UP:
            if isinstance(scope.get(name), Mapping):
                scope[name] = _Known(scope[name])
        title_src = self.title or DEFAULT_TITLE
        body_src = self.message or _default_message(kind)
        try:
            title = _compiled(fmt, title_src).render(scope).strip()
            body = _compiled(fmt, body_src).render(scope).strip()
            tail = 0
            if self.message is None:  # the default message: its footer survives a cut
                footer = _compiled(fmt, _DEFAULT_FOOTER).render(scope).strip()
                tail = len(footer) if body.endswith(footer) else 0
            return Rendered(title, body, tail)
        except Exception as exc:  # a user's template must never drop an alert
            default = RuleTemplates(None, None).render(kind, values, fmt)
            return Rendered(default.title, f"{default.body}\n(template error: {exc})",
                            error=str(exc))


@functools.lru_cache(maxsize=256)
def _default_message(kind: str) -> str:
    return _DEFAULT_HEADER + default_body(kind) + _DEFAULT_FOOTER


def render(alert: Alert, fmt: Format) -> Rendered:
    """An alert's title and message for a target's format."""
    return RuleTemplates(alert.title, alert.message).render(alert.kind, alert.values, fmt)


def template_check(source: str, kinds: Mapping[str, Kind]) -> list[str]:
    """Why a rule's template would not render for the rule's kinds (`rulesd check`)."""
    names = set(CONTEXT_FIELDS)
    for kind in kinds.values():
        names |= {name.partition(".")[0] for name in kind.all_fields()}
    found = template_problems(source, names)
    if found:
        return found
    return render_problems(source, {name: kind.all_fields() for name, kind in kinds.items()})
