"""Safety data: what GoPlus and RugCheck say of a token, as `security.*` values.

Pure. Each service's answer shape is read by its own function (`goplus`,
`rugcheck`); `combine` makes one set of values of what the services that cover
the token's chain said. The table `FIELDS` is the one place that says which
service gives which field and how a field is derived when both answer; the
README prints it. Unknown is never safe: a value no service gave is None, and
a flag one service says is risky stays risky whatever the other says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from rulesd.numbers import finite

# GoPlus's chain ids for DEX Screener's chain names (its `/api/v1/supported_chains`).
GOPLUS_CHAINS: Final = {"ethereum": "1", "bsc": "56", "base": "8453", "arbitrum": "42161",
                        "polygon": "137", "optimism": "10", "avalanche": "43114"}
SOLANA: Final = "solana"


def any_true(values: list[Any]) -> Any:
    """A risk flag: risky if any service says so; safe only if one says so and none
    says risky; else unknown."""
    known = [v for v in values if isinstance(v, bool)]
    return True if True in known else (False if known else None)


def all_true(values: list[Any]) -> Any:
    """A safety flag (`open_source`): true only if no service says false."""
    known = [v for v in values if isinstance(v, bool)]
    return False if False in known else (True if known else None)


def highest(values: list[Any]) -> Any:
    known = [v for v in values if isinstance(v, float)]
    return max(known) if known else None


def lowest(values: list[Any]) -> Any:
    known = [v for v in values if isinstance(v, float)]
    return min(known) if known else None


def union(values: list[Any]) -> Any:
    known = [v for v in values if isinstance(v, list)]
    return sorted({item for value in known for item in value}) if known else None


@attrs.frozen
class SecurityField:
    type: str  # bool, number, list
    meaning: str
    unit: str | None
    evm: str | None  # GoPlus's EVM field, as the README shows it
    solana: str | None  # GoPlus's Solana field
    rugcheck: str | None
    combine: Callable[[list[Any]], Any]
    rule: str  # how both services' answers make one, in words

    @property
    def services(self) -> frozenset[str]:
        return frozenset(name for name, given in (("goplus", self.evm or self.solana),
                                                  ("rugcheck", self.rugcheck)) if given)


def _flag(meaning: str, evm: str | None, solana: str | None = None,
          rugcheck: str | None = None) -> SecurityField:
    return SecurityField("bool", meaning, None, evm, solana, rugcheck, any_true,
                         "true if any service says so")


FIELDS: Final[dict[str, SecurityField]] = {
    "honeypot": _flag("buying works, selling does not", "is_honeypot"),
    "buy_tax": SecurityField("number", "tax on buys", "%", "buy_tax (fraction)", None, None,
                             highest, "the highest"),
    "sell_tax": SecurityField("number", "tax on sells", "%", "sell_tax (fraction)", None, None,
                              highest, "the highest"),
    "mintable": _flag("more tokens can be minted", "is_mintable", "mintable.status",
                      "token.mintAuthority set, or a mint-authority risk"),
    "freezable": _flag("holders' accounts can be frozen", None, "freezable.status",
                       "token.freezeAuthority set, or a freeze-authority risk"),
    "pausable": _flag("transfers can be paused", "transfer_pausable"),
    "blacklist": _flag("addresses can be blacklisted", "is_blacklisted"),
    "proxy": _flag("the contract is a proxy (its code can change)", "is_proxy"),
    "hidden_owner": _flag("the contract has a hidden owner", "hidden_owner"),
    "owner_can_change_balance": _flag("the owner can change balances", "owner_change_balance",
                                      "balance_mutable_authority.status"),
    "cannot_sell_all": _flag("a holder cannot sell all at once", "cannot_sell_all"),
    "open_source": SecurityField("bool", "the contract's source is verified", None,
                                 "is_open_source", None, None, all_true,
                                 "false if any service says so"),
    "holders": SecurityField("number", "how many addresses hold the token", None,
                             "holder_count", "holder_count", "totalHolders", highest,
                             "the highest"),
    "top10_share": SecurityField("number", "share of the supply the 10 largest holders own",
                                 "%", "holders[:10].percent (fractions, summed)",
                                 "holders[:10].percent (fractions, summed)",
                                 "topHolders[:10].pct (summed)", highest, "the highest"),
    "lp_locked": SecurityField("number", "share of the liquidity locked or burned", "%",
                               "lp_holders[is_locked=1].percent (fractions, summed)", None,
                               "markets[].lp.lpLockedPct (the largest market's)", lowest,
                               "the lowest"),
    "risk_score": SecurityField("number", "RugCheck's risk score (higher is riskier)", None,
                                None, None, "score", highest, "RugCheck's"),
    "risks": SecurityField("list", "the names of the risks RugCheck lists (for `contains`)",
                           None, None, None, "risks[].name", union, "RugCheck's"),
    "rugged": _flag("RugCheck says the token was rugged", None, None, "rugged"),
}
# Every field unknown: what an event sees when no service answered.
UNKNOWN: Final[Mapping[str, Any]] = {**dict.fromkeys(FIELDS), "checked_by": []}


def covers(service: str, chain: str | None) -> bool:
    """Whether `service` can say anything of tokens on `chain`."""
    if service == "goplus":
        return chain == SOLANA or chain in GOPLUS_CHAINS
    return service == "rugcheck" and chain == SOLANA


def _flag_of(value: Any) -> bool | None:
    """GoPlus's `"1"`/`"0"` (or `{"status": "1"}` on Solana); `""` or missing: unknown."""
    if isinstance(value, Mapping):
        value = value.get("status")
    if value in ("1", 1, True):
        return True
    if value in ("0", 0, False):
        return False
    return None


def _share(items: Any, key: str, scale: float, keep: Callable[[Mapping[str, Any]], bool]
           = lambda item: True, first: int | None = None) -> float | None:
    """The summed `key` of a list's items (each scaled to %), or None without a list."""
    if not isinstance(items, list):
        return None
    rows = [item for item in items if isinstance(item, Mapping) and keep(item)]
    values = [finite(item.get(key)) for item in rows[:first]]
    known = [v for v in values if v is not None]
    if rows and not known:
        return None
    return round(sum(known) * scale, 6)


def goplus(entry: Any, solana: bool) -> dict[str, Any] | None:
    """One token's entry in GoPlus's `result` as `security.` values (None: not an entry)."""
    if not isinstance(entry, Mapping):
        return None
    out: dict[str, Any] = dict.fromkeys(FIELDS)
    for name, field in FIELDS.items():
        source = field.solana if solana else field.evm
        if source is None or field.type != "bool":
            continue
        out[name] = _flag_of(entry.get(source.split(".")[0]))
    if not solana:
        for name in ("buy_tax", "sell_tax"):
            fraction = finite(entry.get(name))
            out[name] = None if fraction is None else round(fraction * 100, 6)
        out["lp_locked"] = _share(entry.get("lp_holders"), "percent", 100,
                                  keep=lambda item: _flag_of(item.get("is_locked")) is True) \
            if isinstance(entry.get("lp_holders"), list) and entry["lp_holders"] else None
    out["holders"] = finite(entry.get("holder_count"))
    out["top10_share"] = _share(entry.get("holders"), "percent", 100, first=10)
    return out


def goplus_results(answer: Any, addresses: list[str], solana: bool
                   ) -> dict[str, dict[str, Any]]:
    """The tokens GoPlus's answer covers (`code` 1; others raise ValueError)."""
    if not isinstance(answer, Mapping):
        raise ValueError("the answer is not an object")
    if answer.get("code") != 1:
        raise ValueError(f"code {answer.get('code')!r}: {str(answer.get('message'))[:200]}")
    result = answer.get("result")
    if not isinstance(result, Mapping):
        return {}
    out = {}
    for address in addresses:
        entry = result.get(address)
        if entry is None:
            entry = result.get(address.lower())  # EVM keys are lower-case
        values = goplus(entry, solana)
        if values is not None:
            out[address] = values
    return out


def _authority(report: Mapping[str, Any], key: str, risk: str) -> bool | None:
    """RugCheck's mint or freeze authority: set (or listed as a risk) is True."""
    risks = report.get("risks")
    if isinstance(risks, list) and any(isinstance(r, Mapping) and risk in str(
            r.get("name", "")).lower() for r in risks):
        return True
    token = report.get("token")
    if not isinstance(token, Mapping) or key not in token:
        return None
    return bool(token[key])


def rugcheck(report: Any) -> dict[str, Any] | None:
    """RugCheck's full report as `security.` values (None: no report)."""
    if not isinstance(report, Mapping):
        return None
    risks = report.get("risks")
    names = [str(r["name"]) for r in risks if isinstance(r, Mapping) and r.get("name")] \
        if isinstance(risks, list) else None
    markets = report.get("markets")
    locked = None
    if isinstance(markets, list):
        lps = [m.get("lp") for m in markets if isinstance(m, Mapping)]
        pairs = [(finite(lp.get("lpLockedUSD")) or 0.0, finite(lp.get("lpLockedPct")))
                 for lp in lps if isinstance(lp, Mapping)]
        pcts = [pct for _, pct in sorted(pairs, key=lambda p: -p[0]) if pct is not None]
        locked = pcts[0] if pcts else None
    rugged = report.get("rugged")
    return {
        **dict.fromkeys(FIELDS),
        "mintable": _authority(report, "mintAuthority", "mint authority"),
        "freezable": _authority(report, "freezeAuthority", "freeze authority"),
        "holders": finite(report.get("totalHolders")),
        "top10_share": _share(report.get("topHolders"), "pct", 1, first=10),
        "lp_locked": locked,
        "risk_score": finite(report.get("score")),
        "risks": names,
        "rugged": rugged if isinstance(rugged, bool) else None,
    }


def combine(answers: Mapping[str, Mapping[str, Any] | None]) -> dict[str, Any]:
    """One set of `security.` values of what each service said (None: it said nothing)."""
    said = {name: values for name, values in answers.items() if values is not None}
    out: dict[str, Any] = {name: field.combine([v.get(name) for v in said.values()])
                           for name, field in FIELDS.items()}
    out["checked_by"] = sorted(said)
    return out


def table() -> Iterable[str]:
    """The README's table: which service gives each field, and how both make one."""
    yield ("| field | type | unit | meaning | GoPlus (EVM) | GoPlus (Solana) | RugCheck | "
           "both answered |")
    yield "|---|---|---|---|---|---|---|---|"
    for name, f in FIELDS.items():
        yield (f"| `security.{name}` | {f.type} | {f.unit or ''} | {f.meaning} | "
               f"{f.evm or '—'} | {f.solana or '—'} | {f.rugcheck or '—'} | {f.rule} |")
    yield ("| `security.checked_by` | list | | the services that answered "
           "(`[goplus, rugcheck]`) | | | | |")
