"""/metrics: the daemon's counters in Prometheus' text format (prometheus-client).

Built from the daemon's own counters at each scrape; names are `rulesd_*`. Labels
carry names only (sources, connections, rules, notifier targets), never a URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from rulesd import __version__
from rulesd.histogram import Histogram
from rulesd.http.model import Served
from rulesd.http.view import ready

STATES = ("starting", "up", "down", "fatal")
FAILURE_KINDS = ("rate_limited", "outage", "malformed", "permanent")


def _histogram(name: str, doc: str, histogram: Histogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, buckets=histogram.cumulative(),
                                 sum_value=histogram.total)


def families(daemon: Served, outbox: Mapping[str, int], now: float) -> Iterable[Metric]:
    info = InfoMetricFamily("rulesd_build", "rulesd's version")
    info.add_metric([], {"version": __version__})
    yield info
    yield GaugeMetricFamily("rulesd_ready", "1 once every source connected or failed once, "
                            "one is connected and the outbox was resumed", value=int(ready(daemon)))
    yield GaugeMetricFamily("rulesd_rules", "rules loaded", value=len(daemon.loaded.rules))
    yield GaugeMetricFamily("rulesd_leader", "1 while this instance leads (holds the sources "
                            "and sends); 0 for a standby", value=int(daemon.role == "leader"))

    conn = ["source", "connection"]
    frames = CounterMetricFamily("rulesd_source_frames", "frames received", labels=conn)
    size = CounterMetricFamily("rulesd_source_received", "characters (text) or bytes "
                               "(binary) of frames received", labels=conn)
    connects = CounterMetricFamily("rulesd_source_connects", "connections made", labels=conn)
    reconnects = CounterMetricFamily("rulesd_source_reconnects", "connections made again "
                                     "after the first", labels=conn)
    failures = CounterMetricFamily("rulesd_source_failures", "connections lost or refused",
                                   labels=conn)
    events = CounterMetricFamily("rulesd_source_events", "events the connection gave",
                                 labels=conn)
    faults = CounterMetricFamily("rulesd_source_faults", "malformed frames and items, by "
                                 "kind", labels=[*conn, "kind"])
    up = GaugeMetricFamily("rulesd_source_up", "1 while the connection is up", labels=conn)
    state = GaugeMetricFamily("rulesd_source_state", "the connection's state (1 for the "
                              "current one)", labels=[*conn, "state"])
    age = GaugeMetricFamily("rulesd_source_last_frame_age_seconds", "seconds since the "
                            "connection's last frame", labels=conn)
    for name in sorted(daemon.healths):
        h = daemon.healths[name]
        labels = [h.source, name]
        frames.add_metric(labels, h.frames)
        size.add_metric(labels, h.size)
        connects.add_metric(labels, h.connects)
        reconnects.add_metric(labels, max(0, h.connects - 1))
        failures.add_metric(labels, h.failures)
        events.add_metric(labels, h.events)
        for kind, n in sorted(h.faults.items()):
            faults.add_metric([*labels, kind], n)
        up.add_metric(labels, int(h.state == "up"))
        for s in STATES:
            state.add_metric([*labels, s], int(h.state == s))
        if h.last_frame is not None:
            age.add_metric(labels, max(0.0, now - h.last_frame))
    yield from (frames, size, connects, reconnects, failures, events, faults, up, state, age)

    by_kind = CounterMetricFamily("rulesd_events", "events the engine took, by kind",
                                  labels=["kind"])
    for kind, n in sorted(daemon.engine_stats.by_kind.items()):
        by_kind.add_metric([kind], n)
    yield by_kind
    yield GaugeMetricFamily("rulesd_engine_queue_depth", "events waiting for the engine",
                            value=daemon.engine_stats.queue_depth)
    yield GaugeMetricFamily("rulesd_engine_lag_seconds", "how long the last event waited "
                            "for the engine", value=daemon.engine_stats.lag_s)

    rules, rule_counts = daemon.engine.ruleset.rules, daemon.engine.runtime.counts
    for metric, key, doc in (("evaluations", "evaluated", "events the rule was evaluated on"),
                             ("matches", "matched", "events its condition held on"),
                             ("fires", "fired", "alerts the rule fired"),
                             ("suppressed", "cooldown", "alerts its cooldown held back"),
                             ("silenced", "silenced", "alerts a silence held (recorded)"),
                             ("inhibited", "inhibited", "alerts a source alert held "
                                                        "(recorded)"),
                             ("muted", "muted", "alerts a time interval held (recorded; "
                                                "a digest when it ends)"),
                             ("repeats", "repeated", "firing alerts sent again (repeat)")):
        family = CounterMetricFamily(f"rulesd_rule_{metric}", doc, labels=["rule"])
        for rule in rules:
            family.add_metric([rule.name], getattr(rule_counts[rule.name], key))
        yield family
    waits: dict[str, float] = {}
    for (name, _), wait in daemon.engine.state.cooldown_waits.items():
        waits[name] = max(wait, waits.get(name, 0.0))
    if waits:
        grown = GaugeMetricFamily("rulesd_rule_realert_wait_seconds", "the longest wait an "
                                  "exponential cooldown has grown to, over the rule's "
                                  "tokens", labels=["rule"])
        for name, wait in sorted(waits.items()):
            grown.add_metric([name], wait)
        yield grown

    target = ["notifier"]
    sent = CounterMetricFamily("rulesd_notifier_sent", "alerts delivered", labels=target)
    messages = CounterMetricFamily("rulesd_notifier_messages", "messages the platform took",
                                   labels=target)
    failed = CounterMetricFamily("rulesd_notifier_failed", "failed sends, by kind",
                                 labels=[*target, "reason"])
    dead = CounterMetricFamily("rulesd_notifier_dead", "alerts dead-lettered", labels=target)
    retries = CounterMetricFamily("rulesd_notifier_retries", "sends retried", labels=target)
    queued = GaugeMetricFamily("rulesd_notifier_queue_depth", "alerts waiting to be sent",
                               labels=target)
    for name in sorted(daemon.delivery.workers):
        worker = daemon.delivery.workers[name]
        counts = worker.counts
        sent.add_metric([name], counts["sent"])
        messages.add_metric([name], counts["messages"])
        for kind in FAILURE_KINDS:
            failed.add_metric([name, kind], counts[f"failed:{kind}"])
        dead.add_metric([name], counts["dead"])
        retries.add_metric([name], counts["retries"])
        queued.add_metric([name], len(worker.queue))
    yield from (sent, messages, failed, dead, retries, queued)

    box = GaugeMetricFamily("rulesd_outbox", "outbox rows by state", labels=["state"])
    for s in ("pending", "dead"):
        box.add_metric([s], outbox.get(s, 0))
    yield box
    stats = daemon.delivery.stats
    yield _histogram("rulesd_alert_to_send_seconds", "from an alert to the platform taking "
                     "it", stats.latency)
    yield _histogram("rulesd_send_seconds", "how long one send took", stats.send_duration)
    yield from _lookups(daemon)
    reloads = CounterMetricFamily("rulesd_reloads", "reloads by result", labels=["result"])
    for result in ("applied", "refused"):
        reloads.add_metric([result], daemon.reloads[result])
    yield reloads


def _lookups(daemon: Served) -> Iterable[Metric]:
    """The REST services behind `market.` and `security.` fields, while in use."""
    enrichment = daemon.enrichment
    if enrichment is None:
        return
    shown = enrichment.view(daemon.healths)
    label = ["service"]
    families = {key: CounterMetricFamily(f"rulesd_lookup_{key}", doc, labels=label)
                for key, doc in (
                    ("requests", "requests made to the service"),
                    ("throttled", "429 answers (every request to the host then waits)"),
                    ("lookups", "tokens looked up for events that wait"),
                    ("cache_hits", "lookups answered from the cache"),
                    ("timeouts", "events whose rules saw the service's values unknown "
                                 "(timeout or failure)"))}
    for name, values in shown.items():
        if name == "events":
            continue
        service = "dexscreener" if name == "market" else name
        for key, family in families.items():
            family.add_metric([service], values[key])
    if not shown:
        return
    yield from families.values()
    waits = enrichment.enricher.stats
    yield GaugeMetricFamily("rulesd_lookup_waiting", "events waiting for lookups now",
                            value=waits.waiting)
    yield _histogram("rulesd_lookup_wait_seconds", "how long events waited for lookups",
                     waits.wait)
    if "market" in shown:
        watches = enrichment.watcher.stats
        yield CounterMetricFamily("rulesd_market_watch_polls", "price events made by "
                                  "watches", value=watches.polls)
        yield GaugeMetricFamily("rulesd_market_watched", "tokens watched now",
                                value=watches.watched)
        yield GaugeMetricFamily("rulesd_market_watch_interval_seconds", "the shortest "
                                "watch interval achieved within the budget",
                                value=watches.interval_s or 0.0)


class _Snapshot(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def exposition(daemon: Served, outbox: Mapping[str, int], now: float) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(list(families(daemon, outbox, now))))
    return generate_latest(registry)
