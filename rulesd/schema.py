"""Typed field schemas: what each event kind carries, for `check`, messages and docs.

Every source declares its kinds with a schema (field → type, unit, meaning).
`rulesd check` rejects unknown fields and numeric conditions on fields that are
not numbers; templates get sample values of the right type; the README's field
tables are generated from the same declarations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, Literal

import attrs

from rulesd import security

FieldType = Literal["number", "duration", "string", "bool", "time", "list", "object"]
# Types numeric operators compare (a duration is seconds; rules may write `24h`).
NUMERIC: Final = frozenset({"number", "duration"})


@attrs.frozen
class Field:
    """One field of a kind: its type, unit (where there is one) and a one-line meaning."""

    type: FieldType
    meaning: str
    unit: str | None = None


def number(meaning: str, unit: str | None = None) -> Field:
    return Field("number", meaning, unit)


def duration(meaning: str, unit: str | None = "seconds") -> Field:
    return Field("duration", meaning, unit)


def string(meaning: str) -> Field:
    return Field("string", meaning)


def boolean(meaning: str) -> Field:
    return Field("bool", meaning)


def time(meaning: str, unit: str | None = None) -> Field:
    return Field("time", meaning, unit)


def listing(meaning: str) -> Field:
    return Field("list", meaning)


def obj(meaning: str) -> Field:
    return Field("object", meaning)


# Offered by every kind that carries a token, from its TokenRef when the vendor's
# own fields do not name them, so `symbol: BTC` and `token.symbol: BTC` agree.
TOKEN_FIELDS: Final[Mapping[str, Field]] = {
    "symbol": string("the token's ticker symbol, where the vendor names it"),
    "name": string("the token's name, where the vendor names it"),
    "chain": string("the chain, by DEX Screener's names (solana, ethereum, bsc, base, ...)"),
    "address": string("the token's address on its chain (EVM addresses lower-case)"),
}
EXTRA: Final = obj("fields the vendor sent that this schema does not name, as sent")
# Offered by every kind that carries a token, where GoPlus or RugCheck is configured
# (`rulesd.security` says which service gives which).
SECURITY_FIELDS: Final[Mapping[str, Field]] = {
    **{f"security.{name}": Field(f.type, f.meaning, f.unit)  # type: ignore[arg-type]
       for name, f in security.FIELDS.items()},
    "security.checked_by": listing("the safety services that answered (`goplus`, "
                                   "`rugcheck`)"),
}


@attrs.frozen
class Kind:
    """An event kind as one source produces it."""

    name: str
    meaning: str
    fields: Mapping[str, Field]
    # Occurrence kinds fire once per matching event; the others are levels: they fire
    # when a rule's condition becomes true and re-arm once it was false (DESIGN §4).
    occurrence: bool
    token: bool = True  # events of this kind name a token
    # Fields the default message shows, in order ("name: value unit").
    headline: tuple[str, ...] = ()
    # The default title's word for it ("Boost"), and a default message body that
    # says it better than the headline fields (a Jinja2 template), if any.
    label: str = ""
    sentence: str | None = None

    def all_fields(self) -> dict[str, Field]:
        """The kind's fields, with the token and safety fields where it carries a token."""
        return {**TOKEN_FIELDS, **self.fields, **SECURITY_FIELDS} if self.token \
            else dict(self.fields)


def merge(kinds: Iterable[Kind]) -> dict[str, Kind]:
    """Kinds by name; a kind several sources produce gets the union of their fields.

    A field two sources type differently is a programming error, raised at import.
    """
    out: dict[str, Kind] = {}
    for kind in kinds:
        known = out.get(kind.name)
        if known is None:
            out[kind.name] = kind
            continue
        if known.occurrence != kind.occurrence or known.token != kind.token:
            raise ValueError(f"kind {kind.name!r} is declared with two lifecycles")
        fields = dict(known.fields)
        for name, field in kind.fields.items():
            if name in fields and fields[name].type != field.type:
                raise ValueError(f"field {kind.name}.{name} is declared with two types")
            fields.setdefault(name, field)
        out[kind.name] = attrs.evolve(known, fields=fields,
                                      headline=known.headline or kind.headline,
                                      label=known.label or kind.label,
                                      sentence=known.sentence or kind.sentence)
    return out
