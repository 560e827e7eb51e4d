"""What the daemon is doing, as plain data for the status API, the page and /metrics.

Only names, counts, states, the platforms' and vendors' reasons (already masked
and made inert where they were logged) and alerts as rendered: never a secret,
never a full Apprise URL (targets are shown in Apprise's privacy form).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rulesd import silences as silences_mod
from rulesd.delivery.notifiers import privacy_url
from rulesd.http.model import Served
from rulesd.inert import inert
from rulesd.silences import Silence
from rulesd.state.outbox import OutboxRow


def readiness(daemon: Served) -> tuple[bool, str]:
    """Ready, and in a few words why or why not. A leader is ready once the outbox is
    resumed and every connection has connected or failed once, while at least one is
    connected now: a daemon whose every source is down is running but not ready (it
    would alert nothing). A standby is ready while it reaches the state database."""
    if daemon.role == "standby":
        ok = daemon.leadership is not None and daemon.leadership.reachable
        return ok, "standby: ready to take over" if ok else \
            "standby: cannot reach the state database"
    healths = [h for h in daemon.healths.values() if not h.on_demand]
    seen = {health.source for health in healths}
    if not daemon.resumed or not set(daemon.loaded.sources) <= seen or \
            not all(h.connects or h.failures or h.state == "fatal" for h in healths):
        return False, "starting: not every source has connected or failed yet"
    up = sum(h.state == "up" for h in healths)
    if healths and not up:
        return False, f"not ready: no source is connected ({len(healths)} connection(s) " \
            "down; /api/v1/status says why)"
    if up < len(healths):
        return True, f"ready: {up} of {len(healths)} connections up"
    return True, "ready"


def ready(daemon: Served) -> bool:
    return readiness(daemon)[0]


def state(daemon: Served) -> dict[str, Any]:
    """Where the state lives, and for a shared database this instance's term."""
    lead = daemon.leadership
    out: dict[str, Any] = {"backend": "postgresql" if daemon.db.shared else "sqlite",
                           "where": daemon.db.where}
    if lead is not None:
        out.update(epoch=lead.epoch, terms=lead.terms, reachable=lead.reachable,
                   problem=daemon.delivery.redact(inert(lead.problem))
                   if lead.problem else None,
                   lease_s=lead.lease_s)
    return out


def _file_hash(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def sources(daemon: Served, now: float) -> list[dict[str, Any]]:
    out = []
    for name in sorted(daemon.healths):
        h = daemon.healths[name]
        out.append({
            "name": name, "source": h.source, "state": h.state,
            "reason": inert(h.last_error) if h.last_error else None,
            "connects": h.connects, "failures": h.failures, "frames": h.frames,
            "events": h.events, "faults": dict(h.faults),
            "last_frame_age_s": round(now - h.last_frame, 3) if h.last_frame else None,
        })
    return out


def targets(daemon: Served) -> list[dict[str, Any]]:
    out = []
    urls = {t.name: t.url for ts in daemon.delivery.targets.values() for t in ts}
    for name in sorted(daemon.delivery.workers):
        worker = daemon.delivery.workers[name]
        url = urls.get(name)
        counts = worker.counts
        out.append({"name": name, "url": privacy_url(url) if url else None,
                    "queued": len(worker.queue), "sent": counts["sent"],
                    "messages": counts["messages"], "dead": counts["dead"],
                    "retries": counts["retries"],
                    "failed": {k.split(":", 1)[1]: n for k, n in counts.items()
                               if k.startswith("failed:")}})
    return out


def intervals_now(daemon: Served, now: float) -> dict[str, bool]:
    """Each time interval the rules name, and whether it holds now."""
    named = {i.name: i for rule in daemon.engine.ruleset.rules
             for i in (*rule.mute, *rule.active)}
    return {name: interval.holds(now) for name, interval in sorted(named.items())}


def status(daemon: Served, outbox_counts: Mapping[str, int],
           silences: list[Silence]) -> dict[str, Any]:
    now = time.time()
    return {
        "ready": ready(daemon),
        "readiness": readiness(daemon)[1],
        "role": daemon.role,
        "state": state(daemon),
        "uptime_s": round(now - daemon.started_at, 3),
        "config": {"file": daemon.loaded.file, "sha256": _file_hash(daemon.loaded.file)},
        "rules": len(daemon.loaded.rules),
        "sources": sources(daemon, now),
        "notifiers": targets(daemon),
        "outbox": {"pending": outbox_counts.get("pending", 0),
                   "dead": outbox_counts.get("dead", 0),
                   "unwritten": daemon.delivery.writer.unwritten},
        "engine": {"events": daemon.engine_stats.events,
                   "queue_depth": daemon.engine_stats.queue_depth,
                   "lag_s": round(daemon.engine_stats.lag_s, 6)},
        "lookups": daemon.enrichment.view(daemon.healths)
        if daemon.enrichment is not None else {},
        "time_intervals": intervals_now(daemon, now),
        "control": daemon.control.view(),
        "reloads": dict(daemon.reloads),
        "silences": [silences_mod.view(s, now) for s in silences if s.ends > now],
    }


def _scalars(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values an alert fired with that a person reads: numbers, text, the why."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, bool | int | float) or value is None:
            out[key] = value
        elif isinstance(value, str):
            out[key] = inert(value)[:500]
    if isinstance(values.get("why"), Mapping):
        out["why"] = values["why"]
    token = values.get("token")
    if isinstance(token, Mapping):
        out["token"] = {k: inert(str(v))[:200] for k, v in token.items() if v is not None}
    return out


def firing(daemon: Served, last_sends: Mapping[str, OutboxRow]) -> list[dict[str, Any]]:
    """What is firing now: level alerts and absences, with why, since when, last send."""
    out = []
    state = daemon.engine.state
    for (rule, key), alert in sorted(daemon.engine.runtime.firing_alerts.items()):
        since = state.firing.get((rule, key))
        if since is None:
            continue
        row = last_sends.get(alert.id)
        out.append({
            "rule": rule, "key": key, "kind": alert.kind, "since": since.since,
            "values": _scalars(alert.values), "why": alert.values.get("why_text", ""),
            "last_send": row_view(row) if row else None,
        })
    return out


def row_view(row: OutboxRow) -> dict[str, Any]:
    d = row.delivery
    return {"alert": d.alert_id, "notifier": d.notifier, "rule": d.rule, "kind": d.kind,
            "created": d.created, "title": d.title, "state": row.state,
            "attempts": d.attempts, "error": row.last_error, "done_at": row.done_at}


